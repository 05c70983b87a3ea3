"""
Reloads must not leak: the master parses the configuration (and loads every
key file) on each `nginx -s reload`, then frees the old cycle.  A leak of
jansson or OpenSSL objects per key file shows up as master memory growth.
"""

import os
import signal
import time

import jose_helper as jh

LOCATIONS = 24          # each loads every key file: leaks multiply
WARMUP = 2
RELOADS = 20
MAX_GROWTH_KIB = 512


def _conf(n):
    locs = []
    for i in range(n):
        locs.append("""
    location /r%(i)d/ {
        iamsmart_jwt "r%(i)d";
        iamsmart_jwt_key_file {{keys}}/main.jwks;
        iamsmart_jwt_key_file {{keys}}/ed.jwk;
        iamsmart_jwt_key_file {{keys}}/pem.pem;
        iamsmart_jwt_issuer https://issuer.example;
        iamsmart_jwt_audience svc-%(i)d svc-all;
        iamsmart_jwt_algorithms RS256 ES256 EdDSA;
        iamsmart_jwt_leeway 5s;
        iamsmart_jwt_require $iamsmart_jwt_claim_sub;
        proxy_pass http://127.0.0.1:{{backend_port}};
        proxy_set_header X-Sub $iamsmart_jwt_claim_sub;
    }""" % {"i": i})
    return """
server {
    listen 127.0.0.1:{{port}};
%s
    location /hs/ {
        iamsmart_jwt "hs";
        iamsmart_jwt_algorithms HS256;
        iamsmart_jwt_key_file {{keys}}/hs.jwks;
        return 204;
    }
}
""" % "".join(locs)


def _check_serving(ng, keys, i):
    c = jh.claims(sub="u%d" % i, iss="https://issuer.example", aud="svc-all")
    r = ng.get("/r%d/x" % (i % LOCATIONS),
               headers={"Authorization": "Bearer "
                        + jh.sign(c, keys.ec, "ES256")})
    assert r.status == 200, r
    assert r.json()["header_map"]["x-sub"] == ["u%d" % i]
    r = ng.get("/r0/x", headers={"Authorization": "Bearer "
                                 + jh.sign(c, keys.rsa_other, "RS256")})
    assert r.status == 401, r


def test_reloads_do_not_grow_master_memory(nginx, jwt_keys):
    ng = nginx(_conf(LOCATIONS), params={"keys": jwt_keys.dir})
    _check_serving(ng, jwt_keys, 0)

    for i in range(WARMUP):
        ng.reload()
    rss0 = ng.memory_kib("VmRSS")
    data0 = ng.memory_kib("VmData")

    workers = ng.worker_pids()
    samples = []
    for i in range(RELOADS):
        new = ng.reload()
        assert not set(new) & set(workers), "reload kept old workers"
        workers = new
        _check_serving(ng, jwt_keys, i + 1)
        samples.append((ng.memory_kib("VmRSS"), ng.memory_kib("VmData")))

    rss1, data1 = samples[-1]
    report = ("master VmRSS %d -> %d KiB (%+d), VmData %d -> %d KiB (%+d) "
              "over %d reloads; samples %r"
              % (rss0, rss1, rss1 - rss0, data0, data1, data1 - data0,
                 RELOADS, samples))
    print(report)
    assert rss1 - rss0 < MAX_GROWTH_KIB, report
    assert data1 - data0 < 2 * MAX_GROWTH_KIB, report


def test_reload_with_a_broken_key_file_keeps_the_old_config(nginx, jwt_keys):
    """A reload whose key file became unusable is refused by the master,
    which keeps serving with the previous keys."""
    path = jwt_keys.path("reload-swap.jwks")
    jh.write_jwks(path, [jwt_keys.ec])
    conf = """
server {
    listen 127.0.0.1:{{port}};
    location / {
        iamsmart_jwt "swap";
        iamsmart_jwt_key_file %s;
        proxy_pass http://127.0.0.1:{{backend_port}};
    }
}
""" % path
    ng = nginx(conf, allow_log=[r"\[emerg\].*reload-swap\.jwks"])
    tok = jh.sign(jh.claims(), jwt_keys.ec, "ES256")
    assert ng.get("/", headers={"Authorization": "Bearer " + tok}).status \
        == 200

    jh.write_bytes(path, b"not a key")
    mark = ng.log_mark()
    old = ng.worker_pids()
    # `nginx -s reload` parses the config itself and refuses to signal
    res = ng.signal("reload")
    assert res.returncode != 0 and "reload-swap.jwks" in res.output, res
    # a bare SIGHUP reaches the master, which must refuse the new config
    os.kill(ng.master_pid, signal.SIGHUP)
    log = ""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        log = ng.error_log_since(mark)
        if "[emerg]" in log:
            break
        time.sleep(0.05)
    assert "reload-swap.jwks" in log, log
    assert ng.worker_pids() == old
    assert ng.get("/", headers={"Authorization": "Bearer " + tok}).status \
        == 200

    jh.write_jwks(path, [jwt_keys.ed])
    ng.reload()
    assert ng.get("/", headers={"Authorization": "Bearer " + tok}).status \
        == 401
    tok = jh.sign(jh.claims(), jwt_keys.ed, "EdDSA")
    assert ng.get("/", headers={"Authorization": "Bearer " + tok}).status \
        == 200

