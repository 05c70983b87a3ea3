#!/usr/bin/python3
"""iAM Smart platform sandbox.

    /usr/bin/python3 tests/sandbox/iamsmart_sandbox.py --port 0 \
        --client-id demo --client-secret-file keys/client_secret \
        --kek-cert-or-pubkey keys/kek_public.pem \
        --redirect-uri http://127.0.0.1:8080/iamsmart/callback \
        --auto-approve chan-tai-man

Prints "listening on http://HOST:PORT" once it accepts connections.
See README.md beside this file.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from iams_sandbox.server import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
