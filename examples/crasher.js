// Crashes on purpose: exits with EXIT_CODE (default 1) after CRASH_AFTER_MS (default 0).
'use strict';
const after = Number(process.env.CRASH_AFTER_MS || 0);
const code = Number(process.env.EXIT_CODE ?? 1);
console.error(`crasher ${process.pid}: exiting with ${code} in ${after}ms`);
setTimeout(() => process.exit(code), after);
