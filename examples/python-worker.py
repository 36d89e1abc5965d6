#!/usr/bin/env python3
"""A Python worker with no port: a line on stdout every TICK_MS (default 200), one on stderr at start; exits with
EXIT_CODE after CRASH_AFTER_MS when that is set. Python buffers stdout into a pipe unless run with -u."""
import os
import sys
import time

print(f"python worker pid {os.getpid()} args {sys.argv[1:]}", file=sys.stderr, flush=True)
tick = int(os.environ.get("TICK_MS", "200")) / 1000
crash_after = os.environ.get("CRASH_AFTER_MS")
started = time.monotonic()
n = 0
while True:
    n += 1
    print(f"python tick {n}")
    if crash_after is not None and time.monotonic() - started >= int(crash_after) / 1000:
        sys.exit(int(os.environ.get("EXIT_CODE", "1")))
    time.sleep(tick)
