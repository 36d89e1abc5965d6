#!/usr/bin/env python3
"""A small HTTP server in Python (an app that is not node): answers every path on PORT; ends cleanly on SIGTERM, after
STOP_DELAY_MS (default 0) in which it still holds its port, as a server finishing its requests does. GET /health
answers 503 while it warms up (until the file WARM_FILE names exists, when set; each such answer is logged), then 200."""
import http.server
import os
import signal
import sys
import time


class Hello(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        if self.path == "/health":
            warm = os.environ.get("WARM_FILE")
            if warm and not os.path.exists(warm):
                print(f"health: 503, warming up (python pid {os.getpid()})", flush=True)
                return self.answer(503, b"warming up\n")
            return self.answer(200, b"ok\n")
        self.answer(200, f"hello from python pid {os.getpid()} (instance {os.environ.get('NODE_APP_INSTANCE', '-')})\n".encode())

    def answer(self, code, body):
        self.send_response(code)
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
