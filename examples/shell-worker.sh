#!/usr/bin/env bash
# A shell worker (run by bash, or as a program with interpreter = "none"): a line every second, a line on SIGUSR2, and
# on SIGTERM a last line before it ends. Its sleep is a child process: a stop must end both.
trap 'echo "shell worker $$ got SIGTERM"; exit 0' TERM
trap 'echo "shell worker $$ got SIGUSR2"' USR2
echo "shell worker $$ started with: $*"
n=0
while true; do
  n=$((n + 1))
  echo "shell tick $n"
  sleep 1 &
  wait $!
done
