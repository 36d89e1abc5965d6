#!/usr/bin/env python3
"""A small HTTP server in Python (an app that is not node): answers every path on PORT; ends cleanly on SIGTERM, after
STOP_DELAY_MS (default 0) in which it still holds its port, as a server finishing its requests does."""
import http.server
import os
import signal
import sys
import time


class Hello(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        body = f"hello from python pid {os.getpid()} (instance {os.environ.get('NODE_APP_INSTANCE', '-')})\n".encode()
        self.send_response(200)
        self.send_header("content-type", "text/plain")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, fmt, *args):
        pass


port = int(os.environ.get("PORT", "8000"))
server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Hello)


def stop(*_):
    time.sleep(int(os.environ.get("STOP_DELAY_MS", "0")) / 1000)
    print(f"SIGTERM: python pid {os.getpid()} ends", flush=True)
    sys.exit(0)


signal.signal(signal.SIGTERM, stop)
print(f"listening on 127.0.0.1:{port} (python pid {os.getpid()})", flush=True)
server.serve_forever()
