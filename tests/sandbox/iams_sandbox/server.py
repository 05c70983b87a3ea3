"""Process entry point: configuration, wiring, the listening socket."""

import signal
import socket
import sys
from http.server import ThreadingHTTPServer

from . import config
from .callbacks import CallbackSender
from .handlers import Handler
from .platform import Platform
from .store import Store


class SandboxServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address, platform):
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        self.platform = platform
        super().__init__(address, Handler)


def _terminate(signum, frame):
    raise SystemExit(0)


def main(argv=None):
    try:
        settings = config.load(sys.argv[1:] if argv is None else argv)
        store = Store(settings)
    except (config.ConfigError, ValueError) as e:
        print("iamsmart_sandbox: %s" % e, file=sys.stderr)
        return 2
    store.remember_tunables(list(config.TUNABLES) + ["timeout_callback"])
    platform = Platform(settings, store, CallbackSender(settings, store))
    try:
        httpd = SandboxServer((settings.host, settings.port), platform)
    except OSError as e:
        print("iamsmart_sandbox: cannot listen on %s:%d: %s"
              % (settings.host, settings.port, e), file=sys.stderr)
        return 1
    host, port = httpd.server_address[:2]
    shown = "[%s]" % host if ":" in host else host
    print("listening on http://%s:%d" % (shown, port), flush=True)
    signal.signal(signal.SIGTERM, _terminate)
    try:
        httpd.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        httpd.server_close()
    return 0
