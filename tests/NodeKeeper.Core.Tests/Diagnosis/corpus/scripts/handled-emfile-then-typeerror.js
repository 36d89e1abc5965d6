// A handled EMFILE (logged with console.error) and, later, an unrelated uncaught TypeError.
const fs = require('fs');
const held = [];
try {
  for (;;) held.push(fs.openSync(__filename, 'r'));
} catch (err) {
  console.error('cache warmup failed, continuing without cache:', err);
}
for (const fd of held) fs.closeSync(fd);
setTimeout(() => {
  const user = undefined;
  console.log(user.name);
}, 10);
