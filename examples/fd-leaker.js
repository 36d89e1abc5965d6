// Opens a file every EVERY_MS (default 5) and never closes it, until open() fails with EMFILE (unhandled: a crash).
// With KEEP set it stops after KEEP files and just holds them.
'use strict';
const fs = require('fs');
const held = [];
const keep = Number(process.env.KEEP || Infinity);
console.log(`fd-leaker ${process.pid}: leaking file handles`);
setInterval(() => { if (held.length < keep) held.push(fs.openSync(__filename, 'r')); }, Number(process.env.EVERY_MS || 5));
