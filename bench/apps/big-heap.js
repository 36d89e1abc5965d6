// Holds BIG_OBJECTS (default 500,000) small objects, each with a string of its own: a heap whose snapshot is about
// 200 MB (1,000,000: about 425 MB). For the heap_snapshot_reading scenario.
'use strict';
class Session { constructor(i) { this.id = i; this.name = `session-${i}-${Math.random()}`; } }
const kept = [];
for (let i = 0; i < Number(process.env.BIG_OBJECTS || 500000); i++) kept.push(new Session(i));
setInterval(() => { kept.push(new Session(kept.length)); }, 1000);
console.log(`big-heap ${process.pid}: holding ${kept.length} objects`);
