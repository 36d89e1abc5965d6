// ESM import of a relative file that does not exist.
import { config } from './config.mjs';
console.log(config);
