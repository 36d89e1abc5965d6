"""A queue worker in Python: a line per tick until it is stopped (SIGINT raises KeyboardInterrupt: a clean end)."""
import os
import sys
import time

print(f"worker {os.getpid()} args {sys.argv[1:]}")
try:
    n = 0
    while True:
        n += 1
        print(f"tick {n}")
        time.sleep(0.5)
except KeyboardInterrupt:
    print("stopped")
