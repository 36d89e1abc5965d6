// Crashes on purpose: exits with EXIT_CODE (default 1) after CRASH_AFTER_MS (default 0), or as soon as the file
// CRASH_ON_FILE exists (looked for every 5 ms; it says on stderr when it saw it, in ms since the epoch).
'use strict';
const after = Number(process.env.CRASH_AFTER_MS || 0);
const code = Number(process.env.EXIT_CODE ?? 1);
const onFile = process.env.CRASH_ON_FILE;
if (onFile) {
  console.error(`crasher ${process.pid}: exiting with ${code} once ${onFile} exists`);
  setInterval(() => {
    if (!require('fs').existsSync(onFile)) return;
    console.error(`crasher ${process.pid}: saw ${onFile} at ${Date.now()}`);
    process.exit(code);
  }, 5);
} else {
  console.error(`crasher ${process.pid}: exiting with ${code} in ${after}ms`);
  setTimeout(() => process.exit(code), after);
}
