// A web app in cluster mode and a worker, with environment profiles (CommonJS, as `pm2 init` writes it).
module.exports = {
  apps: [
    {
      name: 'api',
      script: './server.js',
      instances: 2,
      exec_mode: 'cluster',
      max_memory_restart: '300M',
      env: { NODE_ENV: 'development', PORT: __PORT__, APP_LABEL: 'api' },
      env_production: { NODE_ENV: 'production' },
      log_date_format: 'YYYY-MM-DD HH:mm Z',
      merge_logs: true,
    },
    {
      name: 'mailer',
      script: 'worker.py',
      interpreter: 'python3',
      args: '--queue mail',
      autorestart: true,
      watch: false,
    },
  ],
};
