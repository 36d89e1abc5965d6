// An Express 5 app with one slow route, as such apps have: GET /report builds its report synchronously (3 s of CPU
// in buildReport, REPORT_MS to change it), and every other request waits meanwhile. GET / answers at once.
// The work is measured in CPU time, not by the clock: a route does the same work however busy the machine is, and
// only takes longer when it waits for a core (a loop timed by the clock would do less work the busier the machine).
const express = require('express')
const app = express()
const port = Number(process.env.PORT || 3000)

const cpuMs = () => { const u = process.cpuUsage(); return (u.user + u.system) / 1000 }

function buildReport(ms) {
  const end = cpuMs() + ms
  let checksum = 0
  while (cpuMs() < end) for (let i = 0; i < 20000; i++) checksum = (checksum * 31 + Math.floor(Math.sqrt(checksum + 7))) % 1000003
  return checksum
}

app.get('/', (req, res) => {
  res.send(`Hello World from express, pid ${process.pid}\n`)
})

app.get('/report', (req, res) => {
  res.json({ checksum: buildReport(Number(process.env.REPORT_MS || 3000)) })
})

app.listen(port, () => {
  console.log(`Example app listening on port ${port} (pid ${process.pid})`)
})
