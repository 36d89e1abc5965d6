// An ES module, with the timings and signals whose words mean something else in NodeKeeper.
export default {
  apps: [
    {
      name: 'api',
      script: 'server.js',
      kill_timeout: 3000,
      restart_delay: 5000,
      min_uptime: '10s',
      max_restarts: 5,
      listen_timeout: 8000,
      env: { PORT: __PORT__, APP_LABEL: 'esm' },
      increment_var: 'PORT',
      instances: 2,
    },
    { name: 'cleanup', script: 'job.sh', kill_signal: 'SIGTERM', exp_backoff_restart_delay: 200 },
  ],
};
