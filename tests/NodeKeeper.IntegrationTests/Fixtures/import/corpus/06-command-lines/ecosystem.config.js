// Scripts with spaces: PM2 runs them through bash -c.
module.exports = {
  apps: [
    { name: 'node-line', script: 'node --max-http-header-size=16384 server.js', env: { PORT: '__PORT__', APP_LABEL: 'node-line' } },
    { name: 'py-line', script: 'python3 -u worker.py --from-line', args: 'ignored' },
  ],
};
