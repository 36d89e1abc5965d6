// ESM import of a package that is not installed.
import express from 'express';
express().listen(3000);
