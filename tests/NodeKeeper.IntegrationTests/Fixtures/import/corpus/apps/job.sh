#!/usr/bin/env bash
# A shell job: a line every half second until it is stopped.
trap 'echo "job stopped"; exit 0' INT TERM
echo "job $$ started: $*"
while true; do echo "job tick"; sleep 0.5 & wait $!; done
