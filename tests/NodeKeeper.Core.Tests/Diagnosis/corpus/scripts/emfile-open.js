// Opens files without closing them and without handling the error (run under prlimit --nofile=64:64).
const fs = require('fs');
const held = [];
for (let i = 0; ; i++) held.push(fs.openSync(__filename, 'r'));
