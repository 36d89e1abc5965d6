// Throws an uncaught exception after THROW_AFTER_MS (default 100).
'use strict';
setTimeout(() => {
  const order = undefined;
  console.log(`thrower ${process.pid}: total is ${order.total}`);
}, Number(process.env.THROW_AFTER_MS || 100));
