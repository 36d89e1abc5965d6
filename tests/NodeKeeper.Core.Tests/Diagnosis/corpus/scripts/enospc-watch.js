// Watches more directories than the inotify watch limit allows (run with a limit of 5 in a user namespace).
const fs = require('fs');
const path = require('path');
for (let i = 0; i < 10; i++) {
  const dir = path.join(__dirname, 'watched', `d${i}`);
  fs.mkdirSync(dir, { recursive: true });
  fs.watch(dir, () => {});
}
