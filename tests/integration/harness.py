"""
Helpers for the integration suite: real nginx, real Redis, an echo backend.

Everything here runs on loopback only and manages processes by pid.  The
pieces are independent of pytest so that scripts (the benchmark, the demo)
and later suites (login, sessions, the iAM Smart sandbox) can reuse them:

  free_port()           a free TCP port on 127.0.0.1
  wait_port()           block until something accepts on a port
  stop_pid()            SIGTERM/SIGQUIT, then SIGKILL after a timeout
  Service               any command that listens on a port (the sandbox,
                        a standalone backend), started and stopped by pid
  RedisServer           redis-server in a temp dir (AOF on, RDB off)
  RedisClient           a tiny RESP client (no python3-redis needed)
  Nginx                 one nginx instance: templated config, nginx -t,
                        start, reload, stop, worker pids, memory, logs
  http_request()        a stdlib HTTP client returning a Response (never
                        follows redirects)
  HttpClient            the same with a cookie jar, for login flows
  log_problems()        the error-log lines that fail a test

Config templates use {{name}} placeholders (nginx itself uses $var and
${var}, and JSON in "return" bodies uses single braces, so double braces are
unambiguous).  Built-in names: dir, port (the first listen port), any
port_<suffix> (a fresh free port each), backend_port, redis_port, root (the
repository).  Unknown names are an error, so typos fail loudly.
"""

import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
NGINX_BIN = os.environ.get("IAMSMART_NGINX", "/usr/sbin/nginx")
REDIS_BIN = os.environ.get("IAMSMART_REDIS", "/usr/bin/redis-server")
MODULE_SO = os.path.join(ROOT, "build", "ngx_http_iamsmart_module.so")
LOOPBACK = "127.0.0.1"


# ---- ports and processes ----

def free_port():
    """A TCP port that was free on 127.0.0.1 a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((LOOPBACK, 0))
        return s.getsockname()[1]


def port_open(port, host=LOOPBACK):
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def wait_port(port, host=LOOPBACK, timeout=10.0, pid=None):
    """Waits until host:port accepts; fails early when pid has died."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if port_open(port, host):
            return
        if pid is not None and not pid_alive(pid):
            raise RuntimeError("process %d died before %s:%d opened"
                               % (pid, host, port))
        time.sleep(0.02)
    raise TimeoutError("%s:%d did not open within %.1fs"
                       % (host, port, timeout))


def _proc_state(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            data = f.read()
    except (FileNotFoundError, ProcessLookupError):
        return None
    # comm may contain spaces and parentheses: the state follows the last ')'
    return data[data.rindex(")") + 2]


def pid_alive(pid):
    """True while pid exists and is not a zombie."""
    state = _proc_state(pid)
    return state is not None and state not in ("Z", "X")


def wait_pid_gone(pid, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not pid_alive(pid):
            return True
        _reap(pid)
        time.sleep(0.02)
    return not pid_alive(pid)


def _reap(pid):
    """Collects pid if it is our child (no-op for daemonized processes)."""
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


def stop_pid(pid, sig=signal.SIGTERM, timeout=10.0, children=()):
    """Sends sig to pid, waits, then SIGKILLs pid and the given children.

    Returns True when the process stopped on the first signal."""
    if not pid_alive(pid):
        _reap(pid)
        return True
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        return True
    if wait_pid_gone(pid, timeout):
        _reap(pid)
        return True
    for p in [pid] + list(children):
        try:
            os.kill(p, signal.SIGKILL)
        except ProcessLookupError:
            pass
    wait_pid_gone(pid, 5.0)
    _reap(pid)
    return False


def child_pids(ppid):
    """Pids whose parent is ppid (from /proc), sorted."""
    out = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open("/proc/%s/status" % name) as f:
                for line in f:
                    if line.startswith("PPid:"):
                        if int(line.split()[1]) == ppid:
                            if pid_alive(int(name)):
                                out.append(int(name))
                        break
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
    return sorted(out)


def proc_status_kib(pid, field):
    """A 'kB' field (VmRSS, VmData, ...) of /proc/<pid>/status, in KiB."""
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise KeyError(field)


def make_tempdir(prefix):
    """A fresh directory under /tmp, traversable by nginx workers.

    nginx workers run as an unprivileged user when the master is root, so
    the directory must not be 0700 like pytest's tmp_path parents are."""
    d = tempfile.mkdtemp(prefix=prefix, dir="/tmp")
    os.chmod(d, 0o755)
    return d


class Service:
    """A command that serves on a loopback port, run in its own session
    and stopped by pid (SIGTERM, SIGKILL after a timeout).

    argv may contain "{port}", replaced by a fresh free port (or the given
    one); output goes to <dir>/<name>.log."""

    def __init__(self, name, argv, port=None, workdir=None, env=None):
        self.name = name
        self.argv = argv
        self.port = port
        self.owns_dir = workdir is None
        self.dir = workdir or make_tempdir("iams-%s-" % name)
        self.env = env
        self.proc = None
        self.log_path = os.path.join(self.dir, name + ".log")

    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    def start(self, timeout=15.0):
        fixed = self.port is not None
        for _ in range(1 if fixed else 3):
            port = self.port if fixed else free_port()
            argv = [a.replace("{port}", str(port)) for a in self.argv]
            env = dict(os.environ, **(self.env or {}))
            with open(self.log_path, "ab") as log:
                self.proc = subprocess.Popen(
                    argv, stdout=log, stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL, cwd=self.dir, env=env,
                    start_new_session=True)
            try:
                wait_port(port, timeout=timeout, pid=self.proc.pid)
                self.port = port
                return self
            except (RuntimeError, TimeoutError):
                stop_pid(self.proc.pid, signal.SIGKILL, 2.0)
                self.proc.wait()
        raise RuntimeError("%s did not start; see %s:\n%s"
                           % (self.name, self.log_path, self.log()[-2000:]))

    def log(self):
        return _read_text(self.log_path)

    def stop(self, timeout=10.0, remove=True):
        """Stops the process; removes the directory if the Service made
        it (and remove is set)."""
        graceful = True
        if self.proc is not None:
            graceful = stop_pid(self.proc.pid, signal.SIGTERM, timeout)
            self.proc.wait()
            self.proc = None
        if remove and self.owns_dir:
            shutil.rmtree(self.dir, ignore_errors=True)
        return graceful


# ---- HTTP client ----

class Response:
    def __init__(self, status, reason, headers, body):
        self.status = status
        self.reason = reason
        self.headers = headers          # list of (name, value), in order
        self.body = body                # bytes

    def header(self, name, default=None):
        """The value of a header that must appear at most once."""
        values = self.header_list(name)
        if not values:
            return default
        if len(values) > 1:
            raise AssertionError("header %s appears %d times: %r"
                                 % (name, len(values), values))
        return values[0]

    def header_list(self, name):
        n = name.lower()
        return [v for k, v in self.headers if k.lower() == n]

    @property
    def text(self):
        return self.body.decode("utf-8", "replace")

    def json(self):
        return json.loads(self.body)

    def __repr__(self):
        return "<Response %d %r %r>" % (self.status, self.headers,
                                        self.body[:300])


def http_request(port, path, method="GET", headers=None, body=None,
                 host=LOOPBACK, timeout=10.0):
    """One HTTP/1.1 request on a fresh connection.

    headers may be a dict or a list of (name, value) pairs; a list can repeat
    a name, which the echo backend tests need."""
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        conn.putrequest(method, path, skip_accept_encoding=True)
        items = headers.items() if isinstance(headers, dict) else \
            (headers or [])
        for k, v in items:
            conn.putheader(k, v)
        if body is not None:
            if isinstance(body, str):
                body = body.encode()
            conn.putheader("Content-Length", str(len(body)))
        conn.endheaders(body)
        resp = conn.getresponse()
        data = resp.read()
        return Response(resp.status, resp.reason, resp.getheaders(), data)
    finally:
        conn.close()


class HttpClient:
    """Requests to one port that keep cookies like a browser would (by name;
    attributes are kept in raw_cookies for tests that check them)."""

    def __init__(self, port, host=LOOPBACK):
        self.port = port
        self.host = host
        self.cookies = {}
        self.raw_cookies = []

    def request(self, method, path, headers=None, body=None):
        h = list(headers.items() if isinstance(headers, dict)
                 else (headers or []))
        if self.cookies:
            h.append(("Cookie", "; ".join("%s=%s" % kv
                                          for kv in self.cookies.items())))
        r = http_request(self.port, path, method=method, headers=h,
                         body=body, host=self.host)
        for raw in r.header_list("Set-Cookie"):
            self.raw_cookies.append(raw)
            name, _, rest = raw.partition("=")
            value = rest.split(";", 1)[0]
            attrs = rest.lower()
            if value == "" or "max-age=0" in attrs.replace(" ", ""):
                self.cookies.pop(name.strip(), None)
            else:
                self.cookies[name.strip()] = value
        return r

    def get(self, path, headers=None):
        return self.request("GET", path, headers)

    def post(self, path, body, headers=None):
        return self.request("POST", path, headers, body)


# ---- error log checks ----

# A line that matches any of these fails the test that produced it.
_CRASH_PATTERNS = [
    re.compile(r"\[alert\]"),
    re.compile(r"AddressSanitizer"),
    re.compile(r"LeakSanitizer"),
    re.compile(r"runtime error:"),
    re.compile(r"signal 11\b"),
    re.compile(r"exited on signal"),
]
_EMERG = re.compile(r"\[emerg\]")


def log_problems(text, allow_emerg=False, allow=()):
    """The lines of an error log that must fail a test.

    allow holds extra regular expressions for lines a test expects."""
    bad = []
    for line in text.splitlines():
        if any(re.search(a, line) for a in allow):
            continue
        if any(p.search(line) for p in _CRASH_PATTERNS):
            bad.append(line)
        elif not allow_emerg and _EMERG.search(line):
            bad.append(line)
    return bad


# ---- Redis ----

class RedisClient:
    """A minimal RESP2 client: enough to inspect and reset the test Redis."""

    def __init__(self, port, host=LOOPBACK, timeout=5.0):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.buf = b""

    def close(self):
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def command(self, *args):
        out = [b"*%d\r\n" % len(args)]
        for a in args:
            if not isinstance(a, bytes):
                a = str(a).encode()
            out.append(b"$%d\r\n%s\r\n" % (len(a), a))
        self.sock.sendall(b"".join(out))
        return self._read()

    def _line(self):
        while b"\r\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("redis closed the connection")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def _exact(self, n):
        while len(self.buf) < n + 2:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("redis closed the connection")
            self.buf += chunk
        data, self.buf = self.buf[:n], self.buf[n + 2:]
        return data

    def _read(self):
        line = self._line()
        kind, rest = line[:1], line[1:]
        if kind == b"+":
            return rest.decode()
        if kind == b"-":
            raise RedisError(rest.decode())
        if kind == b":":
            return int(rest)
        if kind == b"$":
            n = int(rest)
            return None if n < 0 else self._exact(n)
        if kind == b"*":
            n = int(rest)
            return None if n < 0 else [self._read() for _ in range(n)]
        raise RedisError("unexpected reply %r" % line)


class RedisError(Exception):
    pass


class RedisServer:
    """redis-server on a free loopback port in its own directory, with AOF
    on and RDB snapshots off (as the gateway's deployment expects)."""

    def __init__(self, workdir=None):
        self.dir = workdir or make_tempdir("iams-redis-")
        self.host = LOOPBACK
        self.service = Service("redis", [
            REDIS_BIN, "--bind", self.host, "--port", "{port}",
            "--save", "", "--appendonly", "yes", "--dir", self.dir,
            "--daemonize", "no",
            "--logfile", os.path.join(self.dir, "redis.log")],
            workdir=self.dir)

    @property
    def port(self):
        return self.service.port

    @property
    def pid(self):
        return self.service.pid

    @property
    def url(self):
        return "redis://%s:%d" % (self.host, self.port)

    def start(self, timeout=10.0):
        self.service.start(timeout)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                with self.client() as c:
                    if c.command("PING") == "PONG":
                        return self
            except (OSError, RedisError):
                pass
            time.sleep(0.02)
        self.service.stop()
        raise RuntimeError("redis-server not ready; see %s/redis.log"
                           % self.dir)

    def client(self):
        return RedisClient(self.port, self.host)

    def flushall(self):
        with self.client() as c:
            c.command("FLUSHALL")

    def stop(self, remove=True):
        self.service.stop()
        if remove:
            shutil.rmtree(self.dir, ignore_errors=True)


# ---- nginx ----

_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")

_MAIN_TEMPLATE = """\
# generated by tests/integration/harness.py
{load_module}daemon on;
master_process on;
worker_processes {workers};
pid {dir}/nginx.pid;
lock_file {dir}/nginx.lock;
error_log {dir}/error.log {log_level};
{main}
events {{
    worker_connections 1024;
}}

http {{
    access_log {dir}/access.log;
    client_body_temp_path {dir}/client_body_temp;
    proxy_temp_path {dir}/proxy_temp;
    fastcgi_temp_path {dir}/fastcgi_temp;
    uwsgi_temp_path {dir}/uwsgi_temp;
    scgi_temp_path {dir}/scgi_temp;
    default_type application/octet-stream;

{http}
}}
"""


class ConfigResult:
    """What `nginx -t` said."""

    def __init__(self, returncode, output):
        self.returncode = returncode
        self.output = output

    @property
    def ok(self):
        return self.returncode == 0

    def __repr__(self):
        return "<nginx -t rc=%d %r>" % (self.returncode, self.output)


class NginxError(Exception):
    pass


class Nginx:
    """One nginx instance in its own prefix directory.

    http_conf is the body of the http{} block (server blocks, log formats,
    upstreams) with {{placeholders}}; main_conf goes at the top level (env,
    thread pools).  params supplies extra placeholder values.
    """

    def __init__(self, http_conf, main_conf="", params=None, module=True,
                 workers=2, log_level="info", backend_port=None,
                 redis_port=None, expect_emerg=False, allow_log=(),
                 workdir=None):
        self.dir = workdir or make_tempdir("iams-nginx-")
        self.module = module
        self.workers = workers
        self.log_level = log_level
        self.expect_emerg = expect_emerg
        self.allow_log = list(allow_log)
        self.http_conf = http_conf
        self.main_conf = main_conf
        self.params = dict(params or {})
        self.ports = {}
        self.backend_port = backend_port
        self.redis_port = redis_port
        self.master_pid = None
        self.config_result = None
        self.conf_path = os.path.join(self.dir, "nginx.conf")
        self.error_log_path = os.path.join(self.dir, "error.log")
        self.access_log_path = os.path.join(self.dir, "access.log")
        self.pid_path = os.path.join(self.dir, "nginx.pid")

    # -- configuration --

    @property
    def port(self):
        return self.ports["port"]

    def _value(self, name):
        if name in self.params:
            return str(self.params[name])
        if name == "dir":
            return self.dir
        if name == "root":
            return ROOT
        if name == "backend_port":
            if self.backend_port is None:
                raise NginxError("config uses {{backend_port}} but no "
                                 "backend was given")
            return str(self.backend_port)
        if name == "redis_port":
            if self.redis_port is None:
                raise NginxError("config uses {{redis_port}} but no "
                                 "redis was given")
            return str(self.redis_port)
        if name == "port" or name.startswith("port_"):
            if name not in self.ports:
                self.ports[name] = free_port()
            return str(self.ports[name])
        raise NginxError("unknown placeholder {{%s}}" % name)

    def render(self, text):
        return _PLACEHOLDER.sub(lambda m: self._value(m.group(1)), text)

    def write_config(self, new_ports=False):
        if new_ports:
            self.ports = {}
        http = self.render(self.http_conf)
        main = self.render(self.main_conf)
        load = ""
        if self.module:
            load = "load_module %s;\n" % MODULE_SO
        conf = _MAIN_TEMPLATE.format(
            load_module=load, workers=self.workers, dir=self.dir,
            log_level=self.log_level, main=main,
            http=_indent(http, "    "))
        with open(self.conf_path, "w") as f:
            f.write(conf)
        return conf

    def set_config(self, http_conf, main_conf=None):
        """Replaces the config text (for reload tests); ports are kept."""
        self.http_conf = http_conf
        if main_conf is not None:
            self.main_conf = main_conf
        return self.write_config()

    def _run(self, *args, timeout=60):
        cmd = [NGINX_BIN, "-p", self.dir + "/", "-c", self.conf_path]
        cmd += list(args)
        p = subprocess.run(cmd, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                           timeout=timeout)
        return ConfigResult(p.returncode, p.stdout.decode("utf-8", "replace"))

    def test_config(self):
        """Runs `nginx -t` on the written config; the result is kept in
        self.config_result so tests can assert failures and messages."""
        if self.module and not os.path.exists(MODULE_SO):
            raise NginxError("%s is missing: run `make` first" % MODULE_SO)
        self.config_result = self._run("-t")
        return self.config_result

    # -- lifecycle --

    def start(self, timeout=15.0):
        """Writes the config, runs nginx -t, starts nginx and waits until it
        listens and all workers run.  Retries with new ports if one was taken
        in the meantime."""
        for attempt in range(3):
            self.write_config(new_ports=attempt > 0)
            res = self.test_config()
            if not res.ok:
                raise NginxError("nginx -t failed:\n" + res.output)
            started = self._run()
            if started.returncode == 0:
                break
            if "Address already in use" not in started.output:
                raise NginxError("nginx failed to start:\n" + started.output)
        else:
            raise NginxError("nginx could not bind its ports:\n"
                             + started.output)
        self.master_pid = self._wait_pidfile(timeout)
        for name, port in self.ports.items():
            wait_port(port, timeout=timeout, pid=self.master_pid)
        self.wait_workers(timeout=timeout)
        return self

    def _wait_pidfile(self, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                with open(self.pid_path) as f:
                    text = f.read().strip()
                if text:
                    pid = int(text)
                    if pid_alive(pid):
                        return pid
            except (FileNotFoundError, ValueError):
                pass
            time.sleep(0.02)
        raise NginxError("no nginx pid file after %.1fs:\n%s"
                         % (timeout, self.error_log()[-3000:]))

    def running(self):
        return self.master_pid is not None and pid_alive(self.master_pid)

    def worker_pids(self):
        """The master's live children (workers, and briefly old workers
        shutting down after a reload)."""
        return child_pids(self.master_pid)

    def wait_workers(self, old=(), timeout=15.0):
        """Waits until exactly self.workers children run and none of them is
        in old; returns their pids."""
        old = set(old)
        deadline = time.monotonic() + timeout
        pids = []
        while time.monotonic() < deadline:
            pids = self.worker_pids()
            if len(pids) == self.workers and not old.intersection(pids):
                return pids
            if not self.running():
                raise NginxError("nginx master died:\n"
                                 + self.error_log()[-3000:])
            time.sleep(0.02)
        raise NginxError("workers did not settle (have %r, old %r)"
                         % (pids, sorted(old)))

    def signal(self, name):
        """`nginx -s NAME` (reload, reopen, quit, stop) without waiting."""
        return self._run("-s", name)

    def reload(self, timeout=15.0):
        """`nginx -s reload`, then waits until a fresh set of workers runs
        and the old ones are gone.  Returns the new worker pids."""
        old = self.worker_pids()
        res = self.signal("reload")
        if res.returncode != 0:
            raise NginxError("nginx -s reload failed:\n" + res.output)
        return self.wait_workers(old=old, timeout=timeout)

    def stop(self, timeout=10.0):
        """SIGQUIT (graceful) to the master, SIGKILL after timeout."""
        if self.master_pid is None:
            return True
        workers = self.worker_pids() if self.running() else []
        graceful = stop_pid(self.master_pid, signal.SIGQUIT, timeout,
                            children=workers)
        for w in workers:
            if pid_alive(w):
                try:
                    os.kill(w, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        self.master_pid = None
        return graceful

    def memory_kib(self, field="VmRSS", pid=None):
        return proc_status_kib(pid or self.master_pid, field)

    # -- logs --

    def error_log(self):
        return _read_text(self.error_log_path)

    def access_log(self, name=None):
        path = os.path.join(self.dir, name) if name else self.access_log_path
        return _read_text(path)

    def log_mark(self):
        """An offset into error.log; error_log_since(mark) reads what came
        after it (e.g. the lines one request produced)."""
        try:
            return os.path.getsize(self.error_log_path)
        except FileNotFoundError:
            return 0

    def error_log_since(self, mark):
        try:
            with open(self.error_log_path, "rb") as f:
                f.seek(mark)
                return f.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    def log_problems(self):
        text = self.error_log()
        if self.config_result is not None:
            text += "\n" + self.config_result.output
        return log_problems(text, allow_emerg=self.expect_emerg,
                            allow=self.allow_log)

    # -- requests --

    def get(self, path, headers=None, port=None, **kw):
        return http_request(port or self.port, path, headers=headers, **kw)

    def request(self, method, path, port=None, **kw):
        return http_request(port or self.port, path, method=method, **kw)

    def cleanup(self, remove=True):
        self.stop()
        if remove:
            shutil.rmtree(self.dir, ignore_errors=True)


def _indent(text, prefix):
    return "\n".join(prefix + line if line.strip() else line
                     for line in text.splitlines())


def _read_text(path):
    try:
        with open(path, "rb") as f:
            return f.read().decode("utf-8", "replace")
    except FileNotFoundError:
        return ""


# ---- fixture bodies shared by the stacks of *_support.py ----

def stacks_on_demand(create, factory, keys, redis_port):
    """Body of a fixture (yield from it) giving make(redis=None, **kw):
    a new stack create(factory, keys, port, **kw) on redis (default: the
    one at redis_port); every stack made is stopped afterwards."""
    made = []

    def make(redis=None, **kw):
        s = create(factory, keys,
                   redis.port if redis is not None else redis_port, **kw)
        made.append(s)
        return s

    yield make
    for s in made:
        s.stop()


def one_stack(create, factory, keys, redis_port):
    """Body of a fixture (yield from it) giving one stack, stopped after."""
    s = create(factory, keys, redis_port)
    yield s
    s.stop()
