// npm start, the way many deployments run their app under PM2.
module.exports = {
  apps: [
    { name: 'shop', script: 'npm', args: 'start', env: { PORT: '__PORT__', APP_LABEL: 'shop' }, time: true },
  ],
};
