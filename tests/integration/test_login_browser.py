"""
Login with iAM Smart in a real browser: Debian's chromium, headless, driven
by chromedriver through the W3C WebDriver HTTP protocol from the standard
library (no selenium, no downloads).  `make deps` installs chromium and
chromium-driver; without them these tests skip and say so.

The browser opens a protected page, goes through the sandbox (automatic
approval, or a click on a persona's button on the sandbox's approval page)
and must see the backend's signed-in answer.  The gateway's cookies are
Secure: Chrome stores and sends them over plain http because 127.0.0.1
and localhost are secure contexts.  Both host names are exercised.
"""

import json
import os
import shutil
import time
import urllib.error
import urllib.request

import pytest

import harness
from login_support import (  # noqa: F401  (fixtures)
    COOKIE, DEFAULT_PERSONA, expected_open_id, login_keys, login_stack)

CHROMIUM = os.environ.get("IAMSMART_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("IAMSMART_CHROMEDRIVER", "/usr/bin/chromedriver")
CHROME_ARGS = ["--headless", "--no-sandbox", "--disable-gpu",
               "--disable-background-networking", "--disable-component-update",
               "--disable-sync", "--no-first-run", "--disable-dev-shm-usage",
               "--no-default-browser-check", "--window-size=1024,768"]
ELEMENT = "element-6066-11e4-a52e-4f735466cecf"


def _missing():
    return [p for p in (CHROMIUM, CHROMEDRIVER)
            if not (os.path.isfile(p) and os.access(p, os.X_OK))]


pytestmark = pytest.mark.skipif(
    bool(_missing()),
    reason="real-browser login test needs Debian's chromium and "
           "chromium-driver (missing: %s); `make deps` or `apt-get install "
           "-y chromium chromium-driver` installs them"
           % ", ".join(_missing()))


class WebDriverError(Exception):
    pass


class WebDriver:
    """The few W3C WebDriver commands the tests need."""

    def __init__(self, port, user_data_dir, timeout=30.0):
        self.base = "http://127.0.0.1:%d" % port
        self.timeout = timeout
        caps = {"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "pageLoadStrategy": "normal",
            "goog:chromeOptions": {
                "binary": CHROMIUM,
                "args": CHROME_ARGS + ["--user-data-dir=" + user_data_dir],
            }}}}
        value = self._call("POST", "/session", caps)
        self.session = value["sessionId"]
        self.prefix = "/session/" + self.session
        self._call("POST", self.prefix + "/timeouts",
                   {"pageLoad": int(timeout * 1000), "implicit": 0})

    def _call(self, method, path, body=None):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.base + path, data=data,
                                     method=method)
        if data is not None:
            req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=self.timeout + 30) as r:
                doc = json.loads(r.read() or b"{}")
        except urllib.error.HTTPError as e:
            doc = json.loads(e.read() or b"{}")
            raise WebDriverError("%s %s: %s" % (method, path,
                                                doc.get("value", doc)))
        return doc.get("value")

    def get(self, url):
        self._call("POST", self.prefix + "/url", {"url": url})

    @property
    def url(self):
        return self._call("GET", self.prefix + "/url")

    def find(self, css):
        value = self._call("POST", self.prefix + "/element",
                           {"using": "css selector", "value": css})
        return value[ELEMENT]

    def text(self, css="body"):
        return self._call("GET", "%s/element/%s/text"
                          % (self.prefix, self.find(css)))

    def click(self, css):
        self._call("POST", "%s/element/%s/click"
                   % (self.prefix, self.find(css)), {})

    def source(self):
        return self._call("GET", self.prefix + "/source")

    def cookies(self):
        return {c["name"]: c for c in
                self._call("GET", self.prefix + "/cookie")}

    def wait_url(self, predicate, timeout=15.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            u = self.url
            if predicate(u):
                return u
            time.sleep(0.1)
        raise AssertionError("browser stayed at %s" % self.url)

    def quit(self):
        try:
            self._call("DELETE", self.prefix)
        except (WebDriverError, OSError):
            pass


@pytest.fixture
def chrome(nginx):
    """A fresh headless chromium (own profile) behind its own
    chromedriver, both stopped by pid.  It depends on `nginx` so that it
    quits first: chromium keeps preconnected sockets open on which it has
    sent nothing, and nginx 1.22 does not finish a graceful stop while
    such a connection is open (until client_header_timeout)."""
    profile = harness.make_tempdir("iams-chrome-")
    driver = harness.Service("chromedriver", [
        CHROMEDRIVER, "--port={port}", "--allowed-ips=127.0.0.1"])
    driver.start()
    wd = None
    try:
        wd = WebDriver(driver.port, profile)
        yield wd
    finally:
        if wd is not None:
            wd.quit()
        driver.stop()
        shutil.rmtree(profile, ignore_errors=True)


def _echo(chrome):
    """The echo backend's JSON, as chromium renders it."""
    text = chrome.text("body")
    try:
        return json.loads(text)
    except ValueError:
        raise AssertionError("not the backend's answer at %s:\n%s"
                             % (chrome.url, text[:2000]))


def _assert_signed_in(chrome, stack, path, persona):
    assert chrome.url == stack.url(path), chrome.url
    echo = _echo(chrome)
    assert echo["path"] == path
    assert echo["header_map"]["x-openid"] == [expected_open_id(persona)]
    for _, value in echo["headers"]:
        assert COOKIE not in value, echo["headers"]
    cookies = chrome.cookies()
    c = cookies.get(COOKIE)
    assert c is not None, cookies
    assert c["httpOnly"] is True and c["secure"] is True
    assert c.get("sameSite") == "Lax"
    assert len(c["value"]) == 43
    assert COOKIE + "_login" not in cookies
    return c


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_browser_logs_in_with_auto_approve(chrome, login_stack, host):
    stack = login_stack(gw_host=host)
    path = "/app/welcome?from=browser"
    chrome.get(stack.url(path))
    c = _assert_signed_in(chrome, stack, path, DEFAULT_PERSONA)

    # the session holds: another page, straight through
    chrome.get(stack.url("/app/second"))
    _assert_signed_in(chrome, stack, "/app/second", DEFAULT_PERSONA)
    assert chrome.cookies()[COOKIE]["value"] == c["value"]

    # logout clears the cookie; the next protected page goes to login
    chrome.get(stack.url("/logout"))
    assert chrome.url == stack.url("/public/bye")
    assert COOKIE not in chrome.cookies()
    stack.sandbox.admin("auto-approve", persona=None)
    chrome.get(stack.url("/app/again"))
    assert chrome.url.startswith(stack.sandbox.base_url
                                 + "/api/v1/auth/getQR?"), chrome.url


def test_browser_approves_on_the_sandbox_page(chrome, login_stack):
    stack = login_stack(auto_approve=None)
    path = "/app/form"
    chrome.get(stack.url(path))
    assert chrome.url.startswith(stack.sandbox.base_url
                                 + "/api/v1/auth/getQR?"), chrome.url
    assert "Log in with iAM Smart" in chrome.text("h1")

    chrome.click('button[value="approve:wong-mei-ling"]')
    chrome.wait_url(lambda u: u == stack.url(path))
    _assert_signed_in(chrome, stack, path, "wong-mei-ling")

    # cancelling on the approval page (in a new login after logout) gives
    # the gateway's bilingual page and no session
    chrome.get(stack.url("/logout"))
    chrome.get(stack.url("/app/cancel"))
    chrome.click('button[value="cancel"]')
    chrome.wait_url(lambda u: "/iamsmart/callback?" in u)
    text = chrome.text("body")
    assert "iAM Smart" in text and "智方便" in text, text
    assert COOKIE not in chrome.cookies()
