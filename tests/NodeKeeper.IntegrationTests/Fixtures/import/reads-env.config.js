// An ecosystem file that copies variables of the environment it is evaluated in into an app's env.
'use strict';
module.exports = {
  apps: [{
    name: 'web',
    script: 'server.js',
    env: { TOKEN: process.env.NK_IMPORT_TEST_SECRET || 'unset', MODE: process.env.NODE_ENV || 'unset' },
  }],
};
