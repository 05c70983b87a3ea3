"""
Department adapters in nginx: `nginx -t` errors for broken adapters, the
service catalogue, reload swapping, and what a citizen or a department gets
when an adapter's mapping or its backend fails (a JSON error naming the
department, never a crashed worker).

Execution is driven through the exchange endpoint with a consent written
straight into Redis, so no login is needed here (the whole journey is in
test_exchange.py).
"""

import json
import os
import re
import secrets
import socket
import threading
import time

import pytest

import harness
import jose_helper as jh

ADAPTERS = os.path.join(harness.ROOT, "build", "adapters")


def adapter(name):
    return os.path.join(ADAPTERS, name)


SERVER = """
server {
    listen 127.0.0.1:{{port}};
    location = /catalogue { iamsmart_catalogue; }
    location / { return 204; }
}
"""

REAL_ADAPTERS = """
iamsmart_adapter td %s;
iamsmart_adapter immd %s;
iamsmart_adapter reo %s;
iamsmart_adapter rvd %s config=%s;
iamsmart_adapter lcsd %s config=%s;
""" % (adapter("td.so"), adapter("immd.so"), adapter("reo.so"),
       adapter("jsonmap.so"), adapter("rvd.json"),
       adapter("jsonmap.so"), adapter("lcsd.json"))


# ---- nginx -t ----

BROKEN = {
    "broken_no_entry": r'no entry symbol "iams_adapter_entry"',
    "broken_wrong_abi": r"built for ABI 2\.1, gateway provides 1\.0",
    "broken_small_table": r"smaller than the \d+ bytes of ABI",
    "broken_bad_magic": r"bad magic",
    "broken_init_fails": r"init failed",
    "broken_bad_describe": r"invalid describe output",
    "broken_unresolved": r"undefined symbol",
}


@pytest.mark.parametrize("name", sorted(BROKEN))
def test_nginx_t_names_the_file_and_the_cause(nginx, name):
    path = adapter(name + ".so")
    res = nginx.check_config("iamsmart_adapter x %s;\n%s" % (path, SERVER))
    assert not res.ok, res.output
    emerg = [line for line in res.output.splitlines() if "[emerg]" in line]
    assert any(path in line and re.search(BROKEN[name], line)
               for line in emerg), res.output


def test_nginx_t_missing_file(nginx, tmp_path):
    path = str(tmp_path / "absent.so")
    res = nginx.check_config("iamsmart_adapter x %s;\n%s" % (path, SERVER))
    assert not res.ok
    assert re.search(r'adapter "x" \(%s\): cannot open' % re.escape(path),
                     res.output), res.output


def test_nginx_t_unreadable_adapter_config(nginx, tmp_path):
    cfg = tmp_path / "bad.json"
    cfg.write_text("{not json")
    res = nginx.check_config("iamsmart_adapter rvd %s config=%s;\n%s"
                             % (adapter("jsonmap.so"), cfg, SERVER))
    assert not res.ok
    assert str(cfg) in res.output or "config" in res.output, res.output


def test_nginx_t_department_names_an_unknown_adapter(nginx):
    res = nginx.check_config(REAL_ADAPTERS + """
        iamsmart_department TD { adapter nosuch; backend /_dept/td; }
    """ + SERVER)
    assert not res.ok
    assert 'no adapter named "nosuch"' in res.output, res.output


def test_every_real_adapter_loads(nginx):
    res = nginx.check_config(REAL_ADAPTERS + SERVER)
    assert res.ok, res.output


# ---- the catalogue ----

@pytest.fixture(scope="module")
def catalogue(nginx_module):
    return nginx_module(REAL_ADAPTERS + SERVER)


def _get(ng, path):
    return harness.http_request(ng.port, path)


def test_catalogue_lists_every_service_in_both_languages(catalogue):
    r = _get(catalogue, "/catalogue")
    assert r.status == 200, r
    assert r.header("Content-Type") == "application/json"
    cat = r.json()
    codes = {d["code"] for d in cat["departments"]}
    assert {"TD", "ImmD", "REO", "RVD", "LCSD"} <= codes, codes
    assert cat["services"]
    for s in cat["services"]:
        assert s["name"]["en"] and s["name"]["zh-HK"], s
        assert s["themes"] and s["age_groups"], s
    for t in cat["themes"]:
        assert t["name"]["en"] and t["name"]["zh-HK"], t


def test_catalogue_filters_by_theme_and_age_group(catalogue):
    everything = _get(catalogue, "/catalogue").json()["services"]

    transport = _get(catalogue, "/catalogue?theme=transport").json()
    ids = [s["id"] for s in transport["services"]]
    assert ids and len(ids) < len(everything)
    assert all("transport" in s["themes"] for s in transport["services"])

    elderly = _get(catalogue, "/catalogue?age_group=elderly").json()
    assert all("elderly" in s["age_groups"] for s in elderly["services"])

    both = _get(catalogue,
                "/catalogue?theme=transport&age_group=elderly").json()
    assert all("transport" in s["themes"] and "elderly" in s["age_groups"]
               for s in both["services"])


@pytest.mark.parametrize("query", ["theme=nonsense", "age_group=toddlers",
                                   "theme=", "theme=" + "x" * 100])
def test_catalogue_rejects_unknown_filters(catalogue, query):
    r = _get(catalogue, "/catalogue?" + query)
    assert r.status == 400, r
    assert r.json()["error"]


def test_catalogue_is_read_only(catalogue):
    r = harness.http_request(catalogue.port, "/catalogue", method="POST",
                             body=b"{}")
    assert r.status == 405


def test_reload_swaps_the_adapter_set(nginx):
    ng = nginx("iamsmart_adapter td %s;\n%s" % (adapter("td.so"), SERVER))
    codes = {d["code"] for d in _get(ng, "/catalogue").json()["departments"]}
    assert codes == {"TD"}

    ng.set_config(REAL_ADAPTERS + SERVER)
    ng.reload()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        cat = _get(ng, "/catalogue").json()
        if len(cat["departments"]) > 1:
            break
        time.sleep(0.1)
    assert {"TD", "ImmD", "RVD"} <= {d["code"] for d in cat["departments"]}


# ---- execution: failures are JSON errors naming the department ----

class SlowBackend:
    """Accepts connections and never answers, to trigger proxy timeouts."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.conns = []
        self.stop = False
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self):
        self.sock.settimeout(0.2)
        while not self.stop:
            try:
                c, _ = self.sock.accept()
                self.conns.append(c)
            except OSError:
                continue

    def close(self):
        self.stop = True
        for c in self.conns:
            c.close()
        self.sock.close()


EXCHANGE = """
iamsmart_redis 127.0.0.1:{{redis_port}};
iamsmart_issuer https://gateway.test;
%(adapters)s
iamsmart_adapter brk %(brk)s;
iamsmart_department TD   { backend /_dept/td;   client_keys {{td_keys}}; }
iamsmart_department REO  { backend /_dept/reo; }
iamsmart_department BRK  { backend /_dept/brk; }
server {
    listen 127.0.0.1:{{port}};
    location /_dept/reo/ { internal; proxy_pass http://127.0.0.1:{{slow_port}}/;
                           proxy_read_timeout 1s; }
    location /_dept/brk/ { internal; proxy_pass http://127.0.0.1:{{backend_port}}/; }
    location /_dept/td/  { internal; proxy_pass http://127.0.0.1:{{closed_port}}/; }
    location = /exchange { iamsmart_exchange; }
}
"""


def _closed_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def _consent(items_by_source, now, max_uses=0):
    cid = jh.b64u(secrets.token_bytes(16))
    return cid, {
        "v": 1, "id": cid, "citizen": "citizen-ref",
        "requester": {"department": "TD", "service": "td.idp",
                      "subject": "td-subject"},
        "sources": [{"department": dept, "subject": dept.lower() + "-sub",
                     "items": items}
                    for dept, items in items_by_source.items()],
        "purpose": {"code": "test", "text": {"en": "Test", "zh-HK": "測試"}},
        "created": now, "not_before": now, "expires": now + 3600,
        "max_uses": max_uses, "data_life": 0, "status": "ACTIVE",
        "status_changed": now, "use_count": 0, "last_used": 0}


@pytest.fixture(scope="module")
def exchange(nginx_module, redis_server, tmp_path_factory):
    d = tmp_path_factory.mktemp("adapters")
    td_key = jh.Key.generate("EC", kid="td-client")
    jh.write_jwks(str(d / "td.jwks"), [td_key])
    slow = SlowBackend()
    ng = nginx_module(EXCHANGE % {"adapters": REAL_ADAPTERS,
                                  "brk": adapter("broken_map_error.so")},
                      params={"td_keys": str(d / "td.jwks"),
                              "slow_port": slow.port,
                              "closed_port": _closed_port()},
                      allow_log=[r"iamsmart: department"])
    yield ng, td_key, redis_server
    slow.close()


def _exchange(ng, key, body):
    now = int(time.time())
    token = jh.sign({"iss": "TD", "sub": "TD", "aud": "https://gateway.test",
                     "iat": now, "exp": now + 60}, key, "ES256")
    return harness.http_request(ng.port, "/exchange", method="POST",
                                headers={"Authorization": "Bearer " + token,
                                         "Content-Type": "application/json"},
                                body=json.dumps(body).encode())


def _store(redis_server, consent):
    with redis_server.client() as c:
        c.command("SET", "iamsmart:consent:v1:{%s}" % consent["id"],
                  json.dumps(consent, sort_keys=True,
                             separators=(",", ":"), ensure_ascii=False))


def _request(cid, items):
    return {"consent": cid, "subject": "td-subject", "service": "td.idp",
            "purpose": "test", "items": items}


@pytest.mark.parametrize("dept,item,status,error", [
    ("BRK", "brk.record", 502, "adapter_output"),
    ("REO", "reo.voter_particulars", 504, "backend_timeout"),
])
def test_source_failures_name_the_department(exchange, dept, item, status,
                                             error):
    ng, key, redis_server = exchange
    cid, consent = _consent({dept: [item]}, int(time.time()))
    _store(redis_server, consent)

    r = _exchange(ng, key, _request(cid, [item]))
    assert r.status == status, r
    body = r.json()
    assert body["items"] == {}
    assert body["errors"][item]["department"] == dept, body
    assert body["errors"][item]["error"] == error, body


def test_an_unreachable_backend_is_a_502_naming_the_department(exchange):
    ng, key, redis_server = exchange
    cid, consent = _consent({"TD": ["td.driving_licence"]}, int(time.time()))
    _store(redis_server, consent)

    r = _exchange(ng, key, _request(cid, ["td.driving_licence"]))
    assert r.status == 502, r
    err = r.json()["errors"]["td.driving_licence"]
    assert err["department"] == "TD"
    assert err["error"] == "backend_unreachable", err


def test_workers_survive_broken_mappings(exchange):
    ng, key, redis_server = exchange
    pids = ng.worker_pids()
    cid, consent = _consent({"BRK": ["brk.record"]}, int(time.time()))
    _store(redis_server, consent)
    for _ in range(20):
        assert _exchange(ng, key, _request(cid, ["brk.record"])).status == 502
    assert ng.worker_pids() == pids
