// An ecosystem file that fails while it is evaluated, as one with a typo in a require or a missing variable does.
'use strict';
if (!process.env.NK_IMPORT_TEST_NEVER_SET) {
  throw new Error('DATABASE_URL is not set\n(see the deploy notes)');
}
module.exports = { apps: [] };
