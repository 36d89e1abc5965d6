// Leaks on purpose, as a real app does: every request-like tick keeps a Session in a module-level array that is never
// emptied (SESSIONS_PER_TICK, default 2000, every 100 ms: about 2 MB of heap a second). With PORT set it answers HTTP.
'use strict';
class Session {
  constructor(id) {
    this.id = id;
    this.user = `user-${id % 1000}`;
    this.createdAt = Date.now();
    this.cart = [id, id + 1, id + 2];
  }
}
const sessions = [];
let next = 0;
const perTick = Number(process.env.SESSIONS_PER_TICK || 2000);
setInterval(() => { for (let i = 0; i < perTick; i++) sessions.push(new Session(next++)); }, 100);
console.log(`session-leak ${process.pid}: keeping ${perTick} sessions every 100 ms`);
if (process.env.PORT) require('http').createServer((req, res) => res.end(`sessions ${sessions.length}\n`)).listen(Number(process.env.PORT), '127.0.0.1');
