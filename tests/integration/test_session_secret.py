"""
Sessions across a rotation of iamsmart_secret_file, and the session
record's write-back: the gateway keeps reading records written under the
previous secret (and moves them to the current one), logout removes a
session wherever it sits, and the sliding write-back never brings back a
session that a logout deleted since it was read.
"""

import base64
import os
import secrets
import shutil
import socket
import time

import pytest

import harness
from login_support import (  # noqa: F401  (fixtures)
    COOKIE, LoginKeys, LoginStack, login_keys, login_stack, signed_in_echo)
from test_login import _as_page, _assert_login_redirect, _raw_get
from test_session_cache import _with_cache


def _secret_line(kind, key):
    return "%s %s\n" % (kind, base64.b64encode(key).decode())


def _read_current(path):
    with open(path) as f:
        for line in f:
            kind, _, value = line.strip().partition(" ")
            if kind == "current":
                return base64.b64decode(value)
    raise AssertionError("no current line in %s" % path)


def _rotate(path):
    """current -> previous, and a new current (mode 0600, as required)."""
    old = _read_current(path)
    text = _secret_line("current", secrets.token_bytes(32)) \
        + _secret_line("previous", old)
    fd = os.open(path, os.O_WRONLY | os.O_TRUNC)
    with os.fdopen(fd, "w") as f:
        f.write(text)


def _cookie_get(stack, cookie, path="/app/home"):
    return _raw_get(stack, path, cookie="%s=%s" % (COOKIE, cookie))


@pytest.mark.parametrize("cache", ["", "iamsmart_session_cache 1m valid=30s;"],
                         ids=["no-cache", "cache"])
def test_sessions_survive_a_secret_rotation_and_logout_ends_them(
        nginx, redis_server, cache):
    d = harness.make_tempdir("iams-rotation-keys-")
    stack = None
    try:
        keys = LoginKeys(d)
        factory = _with_cache(nginx, cache) if cache else nginx
        stack = LoginStack.create(factory, keys, redis_server.port)
        a, b = stack.browser(name="a"), stack.browser(name="b")
        signed_in_echo(stack.login(a))
        signed_in_echo(stack.login(b))
        cookie_a, cookie_b = a.cookie(COOKIE), b.cookie(COOKIE)
        before = set(stack.session_keys())

        _rotate(keys.gateway_secret)
        stack.nginx.reload()

        # A's record is found under the previous secret and moves
        r = _cookie_get(stack, cookie_a)
        assert r.status == 200, r
        after = set(stack.session_keys())
        assert len(after) == len(before) and after != before, (before, after)
        r = _cookie_get(stack, cookie_a)
        assert r.status == 200, r

        # B has not been back since the rotation: its record still sits
        # under the previous secret's key, and logout must remove it there
        r = b.navigate(stack.url("/logout"), stop=lambda u: True)
        assert r.response.status == 302, r
        r = _cookie_get(stack, cookie_b)
        _assert_login_redirect(_as_page(r, stack), stack)
        assert len(stack.session_keys()) == len(before) - 1
    finally:
        if stack is not None:
            stack.stop()
        shutil.rmtree(d, ignore_errors=True)


class Monitor:
    """Redis MONITOR on its own connection: the commands Redis ran."""

    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        self.sock.sendall(b"MONITOR\r\n")
        self.buf = b""
        self._until(b"+OK\r\n")

    def _until(self, marker, timeout=5.0):
        deadline = time.monotonic() + timeout
        while marker not in self.buf:
            if time.monotonic() > deadline:
                raise AssertionError("MONITOR: no %r in %r" % (marker,
                                                              self.buf))
            self.buf += self.sock.recv(65536)
        head, _, self.buf = self.buf.partition(marker)
        return head

    def lines_until(self, marker):
        return self._until(marker).decode(errors="replace").splitlines()

    def close(self):
        self.sock.close()


def test_the_write_back_never_recreates_a_deleted_session(login_stack):
    # idle 20 s: the record is written back when 2 s have passed
    stack = login_stack(idle="20s")
    b = stack.browser()
    before = set(stack.session_keys())
    signed_in_echo(stack.login(b))
    cookie = b.cookie(COOKIE)
    (key,) = set(stack.session_keys()) - before
    time.sleep(2.2)

    mon = Monitor(stack.redis_port)
    try:
        r = _cookie_get(stack, cookie)
        assert r.status == 200, r
        with stack.redis() as c:
            c.command("ECHO", "write-back-seen")
        seen = mon.lines_until(b"write-back-seen")
    finally:
        mon.close()

    sets = [ln for ln in seen if '"SET"' in ln and key in ln]
    assert len(sets) == 1, seen
    # only if the record still exists: a logout that deleted it after
    # this request's GET wins
    assert sets[0].split()[-1] == '"XX"', sets[0]

