// Ignores SIGTERM: only SIGKILL ends it (tests kill_timeout).
'use strict';
process.on('SIGTERM', () => console.log(`stubborn ${process.pid}: ignoring SIGTERM`));
setInterval(() => {}, 1 << 30);
console.log(`stubborn ${process.pid}: started`);
