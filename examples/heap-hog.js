// Keeps JavaScript objects until V8's heap limit is reached and node dies with "JavaScript heap out of memory".
'use strict';
const kept = [];
console.log(`heap-hog ${process.pid}: allocating`);
setInterval(() => { for (let i = 0; i < 20000; i++) kept.push({ i, s: `item ${i} ${Math.random()}` }); }, 5);
