// Values computed when the file runs (the environment, __dirname), a watch list with ignores, and a shell job on a
// schedule, as real files have them.
const path = require('path');
const stage = process.env.NODE_ENV || 'development';

module.exports = {
  apps: [
    {
      name: `api-${stage}`,
      script: path.join(__dirname, 'server.js'),
      watch: ['server.js', 'package.json'],
      ignore_watch: ['node_modules', 'logs', '*.log'],
      watch_delay: 1000,
      env: { PORT: __PORT__, APP_LABEL: `api (${stage})`, NODE_ENV: stage },
    },
    {
      name: 'report',
      script: 'job.sh',
      args: ['--full'],
      cron_restart: '30 2 * * *',
      out_file: path.join(__dirname, 'report.log'),
    },
  ],
};
