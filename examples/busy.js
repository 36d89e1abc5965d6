// Spins on the CPU (a busy loop in small slices, so the event loop still turns).
'use strict';
console.log(`busy ${process.pid}: spinning`);
const spin = () => { const end = Date.now() + 50; while (Date.now() < end); setImmediate(spin); };
spin();
