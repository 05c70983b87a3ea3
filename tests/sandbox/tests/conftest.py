"""Fixtures: test credentials, a local callback listener, and sandbox
processes started on free loopback ports and stopped by pid."""

import http.client
import json
import os
import queue
import select
import signal
import subprocess
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

SANDBOX_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, SANDBOX_DIR)

from client import Client  # noqa: E402

PYTHON = "/usr/bin/python3"
SCRIPT = os.path.join(SANDBOX_DIR, "iamsmart_sandbox.py")
CLIENT_ID = "test-service"


def read_keys(directory):
    subprocess.run([PYTHON, os.path.join(SANDBOX_DIR, "make_keys.py"),
                    directory], check=True, capture_output=True)
    k = {n: os.path.join(directory, n) for n in (
        "client_secret", "kek_private.pem", "kek_public.pem", "kek_cert.pem")}
    with open(k["client_secret"], "rb") as f:
        k["secret"] = f.read().strip()
    with open(k["kek_private.pem"], "rb") as f:
        k["private_pem"] = f.read()
    return k


@pytest.fixture(scope="session")
def keys(tmp_path_factory):
    return read_keys(str(tmp_path_factory.mktemp("keys")))


@pytest.fixture(scope="session")
def keys2(tmp_path_factory):
    return read_keys(str(tmp_path_factory.mktemp("keys2")))


class Listener:
    """Plays the gateway: records callback POSTs and browser GETs.
    `fail_posts` makes the next N POSTs answer 500."""

    def __init__(self):
        self.posts = queue.Queue()
        self.gets = queue.Queue()
        self.fail_posts = 0
        owner = self

        class H(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def _reply(self, status):
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                status = 200
                if owner.fail_posts > 0:
                    owner.fail_posts -= 1
                    status = 500
                owner.posts.put({"path": self.path, "headers": self.headers,
                                 "body": body, "time": time.time(),
                                 "answered": status})
                self._reply(status)

            def do_GET(self):
                owner.gets.put(self.path)
                self._reply(200)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.thread = threading.Thread(target=self.httpd.serve_forever,
                                       daemon=True)
        self.thread.start()

    def url(self, path):
        return "http://127.0.0.1:%d%s" % (self.httpd.server_address[1], path)

    def next_post(self, timeout=10):
        return self.posts.get(timeout=timeout)

    def no_post(self, wait):
        try:
            got = self.posts.get(timeout=wait)
        except queue.Empty:
            return True
        self.posts.put(got)
        return False

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def listener():
    lst = Listener()
    yield lst
    lst.close()


class Sandbox:
    def __init__(self, args, log_path):
        self.log_path = log_path
        self.log = open(log_path, "wb")
        self.proc = subprocess.Popen([PYTHON, SCRIPT] + args,
                                     stdout=subprocess.PIPE, stderr=self.log)
        line = b""
        deadline = time.time() + 15
        while not line.endswith(b"\n") and time.time() < deadline:
            ready, _, _ = select.select([self.proc.stdout], [], [], 0.2)
            if ready:
                ch = self.proc.stdout.read1(256)
                if not ch:
                    break
                line += ch
        text = line.decode().strip()
        if not text.startswith("listening on http://127.0.0.1:"):
            self.stop()
            with open(log_path) as f:
                raise RuntimeError("sandbox did not start: %r\n%s"
                                   % (text, f.read()))
        self.base_url = text[len("listening on "):]
        self.port = int(self.base_url.rsplit(":", 1)[1])

    def stop(self):
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
        self.proc.stdout.close()
        self.log.close()

    def client(self, keys, client_id=CLIENT_ID):
        return Client(self.base_url, client_id, keys["secret"],
                      keys["private_pem"])

    def http(self, method, path, body=None, headers=None):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            resp = conn.getresponse()
            return resp.status, dict(resp.getheaders()), resp.read()
        finally:
            conn.close()

    def admin(self, name, **args):
        status, _, body = self.http(
            "POST", "/sandbox/admin/" + name, json.dumps(args).encode(),
            {"Content-Type": "application/json"})
        assert status == 200, body
        return json.loads(body)

    def admin_get(self, name, **query):
        path = "/sandbox/admin/" + name
        if query:
            path += "?" + urllib.parse.urlencode(query)
        status, _, body = self.http("GET", path)
        assert status == 200, body
        return json.loads(body)

    def form(self, path, **fields):
        return self.http("POST", path, urllib.parse.urlencode(fields).encode(),
                         {"Content-Type": "application/x-www-form-urlencoded"})


@pytest.fixture
def start_sandbox(keys, listener, tmp_path):
    """start_sandbox(*extra_args, auto="chan-tai-man") -> Sandbox, with
    one client registered for the listener's /login and /callback."""
    started = []

    def start(*extra, auto="chan-tai-man", client=True):
        args = ["--port", "0", "--host", "127.0.0.1"]
        if client:
            args += ["--client-id", CLIENT_ID,
                     "--client-secret-file", keys["client_secret"],
                     "--kek-cert-or-pubkey", keys["kek_public.pem"],
                     "--redirect-uri", listener.url("/login"),
                     "--redirect-uri", listener.url("/callback")]
        if auto:
            args += ["--auto-approve", auto]
        sb = Sandbox(args + list(extra),
                     str(tmp_path / ("sandbox-%d.log" % len(started))))
        started.append(sb)
        return sb

    yield start
    for sb in started:
        sb.stop()


@pytest.fixture
def sandbox(start_sandbox):
    return start_sandbox()


@pytest.fixture
def client(sandbox, keys):
    return sandbox.client(keys)


ALL_DATA_SCOPES = "eidapi_auth eidapi_profiles eidapi_formFilling"


@pytest.fixture
def do_login(client, listener):
    """do_login(scope) -> getToken content of an auto-approved login."""
    def run(scope=ALL_DATA_SCOPES):
        return client.login(listener.url("/login"), scope=scope)
    return run
