// Records each start (Date.now()) in STARTS_FILE, then exits 1 after CRASH_AFTER_MS (default 50).
'use strict';
require('fs').appendFileSync(process.env.STARTS_FILE, `${Date.now()}\n`);
setTimeout(() => process.exit(1), Number(process.env.CRASH_AFTER_MS || 50));
