// An HTTPS server (key and certificate from TLS_KEY_FILE / TLS_CERT_FILE), listening with listen(PORT, cb).
'use strict';
const fs = require('fs');
const https = require('https');

const server = https.createServer(
  { key: fs.readFileSync(process.env.TLS_KEY_FILE), cert: fs.readFileSync(process.env.TLS_CERT_FILE) },
  (req, res) => res.end(`https from pid ${process.pid} (instance ${process.env.NODE_APP_INSTANCE ?? '-'})\n`));
server.listen(process.env.PORT, () => console.log(`https on ${server.address().port}`));
