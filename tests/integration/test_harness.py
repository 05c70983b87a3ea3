"""
The harness itself, against plain nginx (no module): if these fail, the
module's integration results mean nothing.
"""

import os
import sys

import harness


PROXY = """
server {
    listen 127.0.0.1:{{port}};
    location / {
        proxy_pass http://127.0.0.1:{{backend_port}};
    }
    location = /static {
        return 200 '{"ok":{"nested":true}}';
    }
}
"""


def test_redis_is_configured_for_the_suite(redis_server):
    with redis_server.client() as c:
        assert c.command("SET", "iams:test:k", "v") == "OK"
        assert c.command("GET", "iams:test:k") == b"v"
        assert c.command("CONFIG", "GET", "appendonly") == \
            [b"appendonly", b"yes"]
        assert c.command("CONFIG", "GET", "save") == [b"save", b""]
        assert c.command("CONFIG", "GET", "bind")[1].startswith(b"127.0.0.1")
        c.command("DEL", "iams:test:k")


def test_echo_backend_reports_duplicate_headers(nginx, backend):
    ng = nginx(PROXY, module=False)
    backend.clear()
    r = ng.get("/some/path?q=1", headers=[("X-Dup", "one"), ("X-Dup", "two"),
                                          ("X-One", "1")])
    assert r.status == 200
    echo = r.json()
    assert echo["method"] == "GET"
    assert echo["path"] == "/some/path?q=1"
    assert echo["header_map"]["x-dup"] == ["one", "two"]
    assert echo["header_map"]["x-one"] == ["1"]
    assert [q["path"] for q in backend.requests] == ["/some/path?q=1"]


def test_placeholders_and_post_body(nginx):
    ng = nginx(PROXY, module=False)
    assert ng.get("/static").json() == {"ok": {"nested": True}}
    r = ng.request("POST", "/p", body="hello")
    assert r.json()["body"] == "hello"


def test_nginx_t_failure_is_reported(nginx):
    res = nginx.check_config(PROXY + "\nno_such_directive on;\n",
                             module=False)
    assert not res.ok
    assert "[emerg]" in res.output
    assert 'unknown directive "no_such_directive"' in res.output


def test_reload_replaces_workers_and_stop_is_clean(nginx):
    ng = nginx(PROXY, module=False)
    before = ng.worker_pids()
    assert len(before) == 2
    after = ng.reload()
    assert len(after) == 2 and not set(before) & set(after)
    assert ng.get("/static").status == 200
    assert ng.memory_kib("VmRSS") > 0
    master = ng.master_pid
    assert ng.stop()
    assert not harness.pid_alive(master)
    assert not any(harness.pid_alive(p) for p in after)


def test_log_problems_detects_crashes():
    log = "\n".join([
        "2024/01/01 00:00:00 [info] 1#1: *1 client closed connection",
        "2024/01/01 00:00:00 [alert] 1#1: worker process 7 exited on "
        "signal 11",
        "2024/01/01 00:00:00 [emerg] 1#1: bad thing",
        "==7==ERROR: AddressSanitizer: heap-use-after-free",
        "x.c:1:2: runtime error: signed integer overflow",
    ])
    bad = harness.log_problems(log)
    assert len(bad) == 4
    assert len(harness.log_problems(log, allow_emerg=True)) == 3
    assert harness.log_problems(log.splitlines()[0]) == []


def test_service_runs_the_standalone_backend():
    svc = harness.Service("echo", [sys.executable, os.path.join(
        os.path.dirname(__file__), "backend.py"), "--port", "{port}",
        "--name", "standalone"])
    svc.start()
    try:
        r = harness.http_request(svc.port, "/x", headers={"X-A": "1"})
        assert r.json()["server"] == "standalone"
        assert r.json()["header_map"]["x-a"] == ["1"]
    finally:
        pid = svc.pid
        assert svc.stop()
        assert not harness.pid_alive(pid)


def test_http_client_keeps_cookies(nginx):
    ng = nginx("""
server {
    listen 127.0.0.1:{{port}};
    location = /set { add_header Set-Cookie "s=abc; Path=/; HttpOnly";
                      return 204; }
    location = /clear { add_header Set-Cookie "s=; Max-Age=0"; return 204; }
    location = /show { return 200 "cookie=$http_cookie"; }
}
""", module=False)
    c = harness.HttpClient(ng.port)
    assert c.get("/show").text == "cookie="
    c.get("/set")
    assert c.cookies == {"s": "abc"}
    assert c.get("/show").text == "cookie=s=abc"
    c.get("/clear")
    assert c.cookies == {}
    assert "HttpOnly" in c.raw_cookies[0]
