// Infinite recursion.
function walk(node) { return walk({ parent: node }); }
setTimeout(() => walk(null), 10);
