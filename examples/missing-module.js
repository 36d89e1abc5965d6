// Requires a package that is not installed (a deploy that forgot `npm ci`).
'use strict';
require('nodekeeper-example-package-that-is-not-installed');
