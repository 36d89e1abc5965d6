// Opens a file every few milliseconds and never closes it, until open() fails with EMFILE (unhandled: a crash).
'use strict';
const fs = require('fs');
const held = [];
console.log(`fd-leaker ${process.pid}: leaking file handles`);
setInterval(() => { held.push(fs.openSync(__filename, 'r')); }, Number(process.env.EVERY_MS || 5));
