// An ecosystem file that writes a file next to itself while it is evaluated.
'use strict';
require('fs').writeFileSync(require('path').join(__dirname, 'written-by-import.txt'), 'x');
module.exports = { apps: [{ name: 'web', script: 'server.js' }] };
