// An Express 5 app with one slow route, as such apps have: GET /report builds its report synchronously (a 3 s loop
// in buildReport, REPORT_MS to change it), and every other request waits meanwhile. GET / answers at once.
const express = require('express')
const app = express()
const port = Number(process.env.PORT || 3000)

function buildReport(ms) {
  const end = Date.now() + ms
  let checksum = 0
  while (Date.now() < end) checksum = (checksum * 31 + Math.floor(Math.sqrt(checksum + 7))) % 1000003
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
