"""Fixtures: the department sandbox on a free loopback port (stopped by
pid), the personas, and a runner for build/bin/iamsmart-adapter."""

import http.client
import json
import os
import subprocess

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
DEPT_DIR = os.path.dirname(HERE)
ROOT = os.path.abspath(os.path.join(DEPT_DIR, "..", "..", ".."))
PYTHON = "/usr/bin/python3"
CLI = os.path.join(ROOT, "build", "bin", "iamsmart-adapter")
ADAPTERS = os.path.join(ROOT, "build", "adapters")

# department -> (shared object, mapping file or None, URL prefix)
ADAPTER_OF = {
    "TD": ("td.so", None, "td"),
    "ImmD": ("immd.so", None, "immd"),
    "REO": ("reo.so", None, "reo"),
    "RVD": ("jsonmap.so", "adapters/rvd/rvd.json", "rvd"),
    "LCSD": ("jsonmap.so", "adapters/lcsd/lcsd.json", "lcsd"),
    "FEHD": ("tutorial.so", None, "fehd"),
}

EME_SOURCE = "iAM Smart"
EME_UPDATED = "2025-03-01T00:00:00Z"


class Sandbox:
    def __init__(self, proc, host, port):
        self.proc = proc
        self.host = host
        self.port = port
        self.url = "http://%s:%d" % (host, port)

    def request(self, method, path, body=None, content_type=None):
        conn = http.client.HTTPConnection(self.host, self.port, timeout=10)
        headers = {}
        data = None
        if body is not None:
            data = body if isinstance(body, bytes) else json.dumps(body)
            headers["Content-Type"] = content_type or "application/json"
        conn.request(method, path, body=data, headers=headers)
        resp = conn.getresponse()
        raw = resp.read()
        conn.close()
        try:
            parsed = json.loads(raw) if raw else None
        except ValueError:
            parsed = raw.decode(errors="replace")
        return resp.status, parsed

    def post(self, path, body):
        return self.request("POST", path, body)


def start_sandbox(*args):
    proc = subprocess.Popen(
        [PYTHON, os.path.join(DEPT_DIR, "server.py"), "--port", "0",
         *args],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    line = proc.stdout.readline().strip()
    if not line.startswith("listening on http://"):
        proc.kill()
        proc.wait()
        raise RuntimeError("sandbox did not start: %r" % line)
    host, _, port = line[len("listening on http://"):].rpartition(":")
    return Sandbox(proc, host, int(port))


def stop_sandbox(sb):
    sb.proc.terminate()
    try:
        sb.proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        sb.proc.kill()
        sb.proc.wait()


@pytest.fixture(scope="module")
def sandbox():
    sb = start_sandbox()
    yield sb
    stop_sandbox(sb)


@pytest.fixture(autouse=True)
def clean(request):
    """Links and faults do not leak from one test to the next."""
    yield
    if "sandbox" in request.fixturenames:
        sb = request.getfixturevalue("sandbox")
        assert sb.post("/sandbox/reset", {})[0] == 200


@pytest.fixture(scope="session")
def personas():
    with open(os.path.join(DEPT_DIR, "..", "personas.json"),
              encoding="utf-8") as f:
        return {p["id"]: p for p in json.load(f)["personas"]}


@pytest.fixture(scope="session")
def records():
    with open(os.path.join(DEPT_DIR, "records.json"), encoding="utf-8") as f:
        return json.load(f)


class Result:
    def __init__(self, proc):
        self.code = proc.returncode
        self.stderr = proc.stderr
        self.stdout = proc.stdout
        self.json = None
        if proc.returncode == 0 and proc.stdout.strip().startswith("{"):
            self.json = json.loads(proc.stdout)


def run_cli(command, dept, stdin="", extra=()):
    so, mapping, _ = ADAPTER_OF[dept]
    argv = [CLI, command, os.path.join(ADAPTERS, so)]
    if mapping is not None:
        argv += ["--config", os.path.join(ROOT, mapping)]
    argv += list(extra)
    proc = subprocess.run(argv, input=stdin, capture_output=True, text=True,
                          timeout=30)
    return Result(proc)


@pytest.fixture(scope="session")
def cli():
    assert os.access(CLI, os.X_OK), "build the tools first: make"
    return run_cli


def query(dataset, persona=None, subject="sub-unlinked", **extra):
    """A canonical query; the persona's HKID is released when given."""
    q = {"dataset": dataset, "subject": subject}
    if persona is not None:
        q["idNo"] = persona["profile"]["idNo"]
    q.update(extra)
    return json.dumps(q)


def eme_fields(persona):
    """The persona's profile and e-ME data as canonical fields."""
    fields = {}
    for part in ("profile", "eME"):
        for name, value in persona[part].items():
            fields[name] = {"value": value, "source": EME_SOURCE,
                            "last_updated": EME_UPDATED}
    return fields


def values(data):
    return {k: v["value"] for k, v in data["fields"].items()}
