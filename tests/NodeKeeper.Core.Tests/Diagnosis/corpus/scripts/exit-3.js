// A deliberate exit with a message of its own.
console.error('config: DATABASE_URL is not set; refusing to start');
process.exit(3);
