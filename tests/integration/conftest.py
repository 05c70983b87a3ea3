"""
Fixtures for the integration suite (real nginx with the module, real Redis,
an echo backend).  See harness.py for the pieces and the {{placeholder}}
syntax of config snippets.

  redis_server    session: redis-server on a free loopback port
  backend         session: the echo backend (backend.py) on a free port
  nginx           function: factory; nginx(http_conf, **kw) -> running Nginx
  nginx_module    module: the same factory, instances live for a test file
  jwt_keys        session: test keys (jose_helper.Key) and key files

nginx(...) keyword arguments: main_conf, params (extra placeholders),
module (load the iamsmart module; default True), workers, expect_emerg,
allow_log (regexes of error-log lines the test expects), start (default
True).  nginx.check_config(http_conf, ...) writes the config and returns the
`nginx -t` result without starting anything.

At teardown every instance is stopped (SIGQUIT, SIGKILL after a timeout)
and the test fails if its error log holds [alert], [emerg] (unless
expected), a sanitizer report, or a worker crash.  Set IAMSMART_KEEP=1 to
keep the temp dirs; they are also kept when a test fails.
"""

import os
import shutil

import pytest

import harness
import jose_helper as jh
from backend import EchoBackend


@pytest.hookimpl(tryfirst=True, hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    setattr(item, "rep_" + rep.when, rep)


def _failed(node):
    return any(getattr(node, "rep_" + w, None) is not None
               and getattr(node, "rep_" + w).failed
               for w in ("setup", "call"))


@pytest.fixture(scope="session")
def redis_server():
    srv = harness.RedisServer().start()
    yield srv
    srv.stop(remove=not os.environ.get("IAMSMART_KEEP"))


@pytest.fixture(scope="session")
def backend():
    b = EchoBackend().start()
    yield b
    b.stop()


class NginxFactory:
    """Creates Nginx instances wired to the session's backend and Redis,
    and checks their logs when the owning scope ends."""

    def __init__(self, backend, redis_server):
        self.backend = backend
        self.redis_server = redis_server
        self.instances = []

    def _make(self, http_conf, **kw):
        kw.setdefault("backend_port", self.backend.port)
        kw.setdefault("redis_port", self.redis_server.port)
        ng = harness.Nginx(http_conf, **kw)
        self.instances.append(ng)
        return ng

    def __call__(self, http_conf, start=True, **kw):
        ng = self._make(http_conf, **kw)
        if start:
            try:
                ng.start()
            except harness.NginxError as e:
                pytest.fail(str(e), pytrace=False)
        else:
            ng.write_config()
        return ng

    def check_config(self, http_conf, **kw):
        """Writes the config and returns its `nginx -t` result (a failure
        with [emerg] is expected, so it does not fail the test)."""
        kw.setdefault("expect_emerg", True)
        ng = self._make(http_conf, **kw)
        ng.write_config()
        return ng.test_config()

    def finish(self, keep=False):
        problems = []
        for ng in self.instances:
            graceful = ng.stop()
            bad = ng.log_problems()
            if not graceful:
                bad.append("nginx did not stop on SIGQUIT; killed")
            if bad:
                problems.append("%s/error.log:\n  %s"
                                % (ng.dir, "\n  ".join(bad[:20])))
        keep = keep or bool(problems) or bool(os.environ.get("IAMSMART_KEEP"))
        if not keep:
            for ng in self.instances:
                shutil.rmtree(ng.dir, ignore_errors=True)
        self.instances = []
        return problems


@pytest.fixture
def nginx(request, backend, redis_server):
    f = NginxFactory(backend, redis_server)
    yield f
    problems = f.finish(keep=_failed(request.node))
    if problems:
        pytest.fail("error log problems:\n" + "\n".join(problems),
                    pytrace=False)


@pytest.fixture(scope="module")
def nginx_module(request, backend, redis_server):
    f = NginxFactory(backend, redis_server)
    yield f
    problems = f.finish()
    if problems:
        pytest.fail("error log problems:\n" + "\n".join(problems),
                    pytrace=False)


class JwtKeys:
    """Keys for JWT tests and the files that hold their public parts.

    main.jwks     rsa (kid rsa-1), ec (kid ec-1)
    ed.jwk        ed (kid ed-1), a single JWK
    pem.pem       pem (RSA, no kid), a PEM public key
    hs.jwks       hs (oct, kid hs-1)
    Not published: rsa_other (same kid as rsa, other key material),
    stranger (EC, kid ec-unknown).
    """

    def __init__(self, d):
        self.dir = d
        self.rsa = jh.Key.generate("RSA", kid="rsa-1")
        self.rsa_other = jh.Key.generate("RSA", kid="rsa-1")
        self.ec = jh.Key.generate("EC", kid="ec-1")
        self.ed = jh.Key.generate("OKP", kid="ed-1")
        self.pem = jh.Key.generate("RSA")
        self.hs = jh.Key.generate("oct", kid="hs-1")
        self.stranger = jh.Key.generate("EC", kid="ec-unknown")
        self.main = jh.write_jwks(self.path("main.jwks"), [self.rsa, self.ec])
        self.ed_file = jh.write_json(self.path("ed.jwk"),
                                     self.ed.public_jwk())
        self.pem_file = jh.write_bytes(self.path("pem.pem"),
                                       self.pem.public_pem())
        self.hs_file = jh.write_json(self.path("hs.jwks"),
                                     {"keys": [self.hs.private_jwk()]})

    def path(self, name):
        return os.path.join(self.dir, name)


@pytest.fixture(scope="session")
def jwt_keys():
    d = harness.make_tempdir("iams-keys-")
    yield JwtKeys(d)
    shutil.rmtree(d, ignore_errors=True)
