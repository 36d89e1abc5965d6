// The seed article's pattern: log the uncaught exception and exit 1.
process.on('uncaughtException', (e) => {
  console.error('Uncaught Exception:', e);
  process.exit(1);
});
const config = JSON.parse(process.env.APP_CONFIG || '{}');
setTimeout(() => {
  config.db.connect();
}, 10);
