// Throws a string, not an Error.
setTimeout(() => {
  throw 'database unavailable';
}, 10);
