// Workers that are not node: a Python file and shell scripts, with and without an interpreter.
module.exports = {
  apps: [
    { name: 'py', script: 'worker.py', args: ['--once', 'false'] },
    { name: 'sh', script: 'job.sh', args: 'nightly' },
    { name: 'bin', script: './job.sh', interpreter: 'none', node_args: '--max-old-space-size=64' },
  ],
};
