// Grows the heap until V8 gives up (run with --max-old-space-size=32).
const keep = [];
for (;;) keep.push(new Array(100000).fill({ n: keep.length }));
