// An ES module ecosystem file that asks the machine for values, as real files do: the host name for an env value,
// the home folder for log files, the memory for a limit.
import { homedir, hostname, totalmem } from 'node:os';

export default {
  apps: [{
    name: 'web',
    script: 'server.js',
    out_file: `${homedir()}/logs/web.out.log`,
    env: { INSTANCE_HOST: hostname() },
    max_memory_restart: `${Math.floor(totalmem() / 4 / 1048576)}M`,
  }],
};
