"""The portal's HTTP/1.1 connections: uvicorn's h11 protocol with the deadlines it does not have.

uvicorn bounds the size of a request's headers (`h11_max_incomplete_event_size`) and closes a keep-alive
connection idle for `timeout_keep_alive`, but any byte received cancels that timer and nothing bounds the *time*
headers take: a client sending a header byte every few seconds holds its connection (and, with
`limit_concurrency`, a place that makes everybody else get 503) for ever. `GuardedH11` adds:

- **a header deadline**: from the moment a connection opens, and again from the end of each response, the next
  request's line and headers must be complete within `header_timeout` seconds, however they trickle; a
  connection that misses it is closed (with a 408 if part of a request had come). A request body that the
  application stopped reading (an early 413) cannot keep the connection either: no new request, no extension.
- **a bound on open connections**: past `max_connections`, the connection waiting longest for its headers is
  closed to make room (or the new one, if every other is in a request).
- **a send deadline**: a response the client stops reading for `SEND_TIMEOUT` seconds ends the connection.
- the 400 uvicorn writes for a malformed request carries the portal's security headers and an access-log line.

Request bodies are bounded in `web.Hardened` (a silence and a minimum average rate), where only the time the
application spends waiting for the client counts.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

from ctstat.web.security import SECURITY_HEADERS, access_line

SEND_TIMEOUT = 60.0  #: seconds a response may wait for the client to read it


class GuardedH11(H11Protocol):
    header_timeout: float = 10.0
    max_connections: int = 500

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._header_timer: asyncio.TimerHandle | None = None
        self._send_timer: asyncio.TimerHandle | None = None
        self.waiting_since: float | None = None  #: when the wait for the next request's headers began
        self._armed_for: Any = None  #: the request cycle the deadline was armed after (None: a new connection)
        self._partial = 0  #: bytes of the next request received so far
        self._opened = time.perf_counter()

    # --- the header deadline ----------------------------------------------------------------------------------

    def _arm(self) -> None:
        self._disarm()
        self.waiting_since = time.monotonic()
        self._armed_for, self._partial = self.cycle, 0
        self._opened = time.perf_counter()
        self._header_timer = self.loop.call_later(self.header_timeout, self._headers_late)

    def _disarm(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None
        self.waiting_since = None

    def _check_started(self) -> None:
        """A new request's headers are complete (uvicorn made a new cycle for it): its deadline is met."""
        if self._header_timer is not None and self.cycle is not self._armed_for:
            self._disarm()

    def _headers_late(self) -> None:
        self._header_timer = None
        self.waiting_since = None
        if self.transport.is_closing():
            return
        if self._partial:
            self._write_plain(408, b"request headers too slow\n")
        self.transport.close()

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()
        if len(self.connections) > self.max_connections:
            waiting = [c for c in self.connections if isinstance(c, GuardedH11) and c.waiting_since is not None]
            oldest = min(waiting, key=lambda c: c.waiting_since or 0.0)  # this one at least is waiting
            oldest._disarm()
            oldest.transport.close()

    def data_received(self, data: bytes) -> None:
        if self._header_timer is not None:
            self._partial += len(data)
        super().data_received(data)
        self._check_started()

    def on_response_complete(self) -> None:
        if not self.transport.is_closing():
            self._arm()  # before uvicorn looks at a pipelined request, which meets the deadline at once
        super().on_response_complete()
        self._check_started()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        if self._send_timer is not None:
            self._send_timer.cancel()
            self._send_timer = None
        super().connection_lost(exc)

    # --- the send deadline ------------------------------------------------------------------------------------

    def pause_writing(self) -> None:
        super().pause_writing()
        if self._send_timer is None:
            self._send_timer = self.loop.call_later(SEND_TIMEOUT, self.transport.abort)

    def resume_writing(self) -> None:
        super().resume_writing()
        if self._send_timer is not None:
            self._send_timer.cancel()
            self._send_timer = None

    # --- responses uvicorn writes itself ----------------------------------------------------------------------

    def send_400_response(self, msg: str) -> None:
        self._write_plain(400, msg.encode("ascii", "replace") + b"\n")
        self.transport.close()

    def _write_plain(self, status: int, body: bytes) -> None:
        """A response written straight to the socket (no request to answer through h11), with the portal's
        security headers and its access-log line."""
        reason = {400: b"Bad Request", 408: b"Request Timeout"}.get(status, b"Error")
        headers = [
            (b"content-type", b"text/plain; charset=utf-8"),
            (b"content-length", str(len(body)).encode()),
            (b"connection", b"close"),
            (b"cache-control", b"no-store"),
            *SECURITY_HEADERS,
        ]
        head = b"HTTP/1.1 %d %s\r\n" % (status, reason) + b"".join(k + b": " + v + b"\r\n" for k, v in headers)
        self.transport.write(head + b"\r\n" + body)
        if self.conn.our_state is not h11.ERROR:
            self.conn.send_failed()
        client = self.client[0] if self.client else ""
        access_line(client, None, "", status, len(body), self._opened)


def guarded_protocol(header_timeout: float, max_connections: int) -> type[GuardedH11]:
    """GuardedH11 with these limits (uvicorn makes one protocol object per connection from the class)."""
    return type("PortalH11", (GuardedH11,), {"header_timeout": header_timeout, "max_connections": max_connections})
