"""
`make demo` itself: scripts/demo.sh on free loopback ports.

- Its own check mode (DEMO_CHECK=1): a scripted browser clicks through
  the portal, the sandbox's approval pages, the three departments, a
  face-recognition step-up and logout.
- A real browser (Debian's chromium, headless, through chromedriver) on
  the running demo: the portal, "Log in with iAM Smart", the sandbox's
  approval page, a department opened signed in; then Ctrl-C stops
  everything and the nginx error log holds no alert.
"""

import json
import os
import re
import socket
import shutil
import signal
import subprocess
import time

import pytest

import harness
from test_login_browser import CHROMEDRIVER, WebDriver, _missing

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
DEMO = os.path.join(ROOT, "scripts", "demo.sh")


def _port_free(port):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind((harness.LOOPBACK, port))
        except OSError:
            return False
    return True


def _demo_env(**extra):
    # the departments take DEMO_DEPT_PORT and the next two
    dept = harness.free_port()
    while not all(_port_free(dept + i) for i in range(3)):
        dept = harness.free_port()
    env = dict(os.environ,
               DEMO_PORT=str(harness.free_port()),
               DEMO_BACKEND_PORT=str(harness.free_port()),
               DEMO_REDIS_PORT=str(harness.free_port()),
               DEMO_SANDBOX_PORT=str(harness.free_port()),
               DEMO_DEPT_PORT=str(dept),
               DEMO_PERSONA="")
    env.update(extra)
    return env


def _problems_in(demo_dir):
    with open(os.path.join(demo_dir, "error.log"), errors="replace") as f:
        return harness.log_problems(f.read())


def test_demo_check_mode_clicks_through_the_portal():
    env = _demo_env(DEMO_CHECK="1")
    proc = subprocess.run(["bash", DEMO], env=env, cwd=ROOT,
                          stdin=subprocess.DEVNULL, capture_output=True,
                          timeout=180)
    out = proc.stdout.decode(errors="replace")
    err = proc.stderr.decode(errors="replace")
    assert proc.returncode == 0, out[-3000:] + err[-3000:]
    assert "demo check passed" in err
    steps = [l for l in out.splitlines() if l.startswith("demo check:")]
    assert len(steps) >= 12 and all(l.endswith(" ok") for l in steps), out
    for what in ("TD form filled from e-ME (signed in)",
                 "TD form filled from e-ME without a login",
                 "and still nobody is signed in"):
        assert any(what in l for l in steps), (what, out)


class RunningDemo:
    def __init__(self, env):
        self.env = env
        self.port = int(env["DEMO_PORT"])
        self.logdir = harness.make_tempdir("iams-demo-run-")
        self.out = open(os.path.join(self.logdir, "demo.out"), "wb+")
        self.proc = subprocess.Popen(
            ["bash", DEMO], env=env, cwd=ROOT, stdin=subprocess.DEVNULL,
            stdout=self.out, stderr=subprocess.STDOUT,
            start_new_session=True)

    def output(self):
        with open(self.out.name, errors="replace") as f:
            return f.read()

    def wait_ready(self, timeout=90.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if "press Ctrl-C to stop" in self.output():
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.2)
        raise AssertionError("demo did not start:\n" + self.output()[-4000:])

    @property
    def demo_dir(self):
        m = re.search(r"\(files: (\S+)\)", self.output())
        return m.group(1) if m else None

    def url(self, path):
        return "http://127.0.0.1:%d%s" % (self.port, path)

    def stop(self):
        """Ctrl-C, as an operator would; returns the exit status."""
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGINT)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.out.close()
        return self.proc.returncode


@pytest.mark.skipif(bool(_missing()),
                    reason="needs Debian's chromium and chromium-driver "
                           "(`make deps` installs them)")
def test_demo_in_a_real_browser():
    demo = RunningDemo(_demo_env(DEMO_KEEP="1"))
    driver = wd = None
    profile = harness.make_tempdir("iams-chrome-")
    demo_dir = None
    try:
        demo.wait_ready()
        demo_dir = demo.demo_dir
        driver = harness.Service("chromedriver", [
            CHROMEDRIVER, "--port={port}", "--allowed-ips=127.0.0.1"])
        driver.start()
        wd = WebDriver(driver.port, profile)

        wd.get(demo.url("/"))
        assert "One portal for government services" in wd.text("h1")
        wd.click('a[href="/login"]')
        # the sandbox's approval page: pick a test citizen
        wd.wait_url(lambda u: "/api/v1/auth/getQR?" in u)
        wd.click('button[value="approve:chan-tai-man"]')
        wd.wait_url(lambda u: u == demo.url("/login"))
        assert "Departments" in wd.text("body")
        session = wd.cookies().get("iamsmart_session")
        assert session and session["httpOnly"] and session["secure"]

        # a department opens signed in and shows its pairwise subject
        wd.click('a[href="/td/"]')
        wd.wait_url(lambda u: u == demo.url("/td/"))
        text = wd.text("body")
        assert "High-value action" in text, text
        assert "pairwise subject" in text, text
        wd.get(demo.url("/td/?format=json"))
        rec = json.loads(wd.text("body"))
        assert rec["verified"] is True, rec
        assert rec["claims"]["sub"] == rec["subject"], rec
        assert rec["subject"] in text

        wd.get(demo.url("/logout"))
        assert "iamsmart_session" not in wd.cookies()
    finally:
        # chromium first: nginx's graceful stop waits for its idle sockets
        if wd is not None:
            wd.quit()
        if driver is not None:
            driver.stop()
        shutil.rmtree(profile, ignore_errors=True)
        status = demo.stop()
        output = demo.output()
        shutil.rmtree(demo.logdir, ignore_errors=True)
    assert status in (0, 130), output[-4000:]
    assert demo_dir and os.path.isdir(demo_dir), output[-4000:]
    try:
        assert _problems_in(demo_dir) == []
    finally:
        shutil.rmtree(demo_dir, ignore_errors=True)
