// CommonJS require of a package that is not installed.
const express = require('express');
express().listen(3000);
