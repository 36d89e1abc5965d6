// Uses up the descriptors (quietly), then fs.watch needs one more for its inotify instance.
const fs = require('fs');
const held = [];
try { for (;;) held.push(fs.openSync(__filename, 'r')); } catch { /* limit reached */ }
fs.watch(__dirname, () => {});
