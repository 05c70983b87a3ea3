"""
Echo backend: answers every request with JSON describing what it received,
so tests can see exactly what the proxy forwarded.

    {"method": "GET", "path": "/api/x?y=1",
     "headers": [["Host", "..."], ["X-Sub", "alice"], ...],   # in order
     "header_map": {"x-sub": ["alice"], ...},                 # lower-cased
     "body": "...", "body_length": 0, "server": "<name>"}

A header that arrived twice appears twice in "headers" and as a two-element
list in "header_map".  The server also keeps the last requests it served
(EchoBackend.requests) so a test can assert that a rejected request never
reached it.

Run standalone (the demo does):  python3 backend.py --port 9000 [--name N]
"""

import argparse
import collections
import json
import signal
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MAX_BODY = 1 << 20


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "iams-echo/1"

    def _serve(self):
        length = self.headers.get("Content-Length")
        body = b""
        if length is not None:
            n = int(length)
            if n < 0 or n > MAX_BODY:
                self.send_error(413)
                return
            body = self.rfile.read(n)
        elif self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            body = self._read_chunked()

        pairs = list(self.headers.items())
        hmap = {}
        for k, v in pairs:
            hmap.setdefault(k.lower(), []).append(v)
        record = {
            "method": self.command,
            "path": self.path,
            "headers": [[k, v] for k, v in pairs],
            "header_map": hmap,
            "body": body.decode("utf-8", "replace"),
            "body_length": len(body),
            "server": self.server.name,
        }
        self.server.record(record)

        out = json.dumps(record).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(out)

    def _read_chunked(self):
        out = b""
        while True:
            size = int(self.rfile.readline().split(b";")[0], 16)
            if size == 0:
                while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                    pass
                return out
            out += self.rfile.read(size)
            self.rfile.readline()
            if len(out) > MAX_BODY:
                raise ValueError("body too large")

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = \
        do_OPTIONS = _serve

    def log_message(self, fmt, *args):
        if self.server.verbose:
            sys.stderr.write("echo: " + (fmt % args) + "\n")


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


class EchoBackend:
    """The echo server on a thread of the current process."""

    def __init__(self, port=0, host="127.0.0.1", name="echo", keep=1000,
                 verbose=False):
        self.httpd = _Server((host, port), _Handler)
        self.httpd.name = name
        self.httpd.verbose = verbose
        self.httpd.record = self._record
        self.host = host
        self.port = self.httpd.server_address[1]
        self._lock = threading.Lock()
        self._requests = collections.deque(maxlen=keep)
        self._thread = None

    def _record(self, rec):
        with self._lock:
            self._requests.append(rec)

    @property
    def requests(self):
        with self._lock:
            return list(self._requests)

    def clear(self):
        with self._lock:
            self._requests.clear()

    def start(self):
        self._thread = threading.Thread(target=self.httpd.serve_forever,
                                        name="echo-backend", daemon=True)
        self._thread.start()
        return self

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()
        if self._thread:
            self._thread.join(5)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--name", default="echo")
    ap.add_argument("--verbose", action="store_true")
    args = ap.parse_args()
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        ap.error("the echo backend listens on loopback only")
    b = EchoBackend(args.port, args.host, args.name, verbose=args.verbose)
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))
    try:
        b.httpd.serve_forever()
    except (KeyboardInterrupt, SystemExit):
        pass
    finally:
        b.httpd.server_close()


if __name__ == "__main__":
    main()
