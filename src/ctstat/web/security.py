"""What every response of the portal carries, whoever writes it (the app, its middleware, the protocol class):
the security headers, and one access-log line."""

from __future__ import annotations

import json
import logging
import time
from datetime import datetime

access = logging.getLogger("ctstat.access")

SECURITY_HEADERS = [
    (
        b"content-security-policy",
        b"default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; form-action 'self'; "
        b"frame-ancestors 'none'; base-uri 'none'",
    ),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),  # "no-referrer" would make browsers send "Origin: null"
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=()"),
]


#: the headers ctstat sets itself: an app's own copy of one is dropped
OUR_HEADERS = {name for name, _ in SECURITY_HEADERS} | {b"strict-transport-security"}
HSTS = (b"strict-transport-security", b"max-age=31536000")  #: over HTTPS only (a trusted proxy says so)


def access_line(client: str, method: str | None, path: str, status: int, size: int, started: float) -> None:
    """The one JSON access-log line of a response, whoever wrote it (never a query string, a cookie or a token)."""
    access.info(
        json.dumps(
            {
                "ts": datetime.now().astimezone().isoformat(timespec="milliseconds"),
                "event": "http",
                "client": client,
                "method": method,
                "path": path[:200],
                "status": status,
                "bytes": size,
                "ms": round((time.perf_counter() - started) * 1000, 1),
            },
            ensure_ascii=False,
        )
    )
