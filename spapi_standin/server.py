"""HTTP plumbing and the public `StandIn` object.

A `ThreadingHTTPServer` speaking HTTP/1.1 with keep-alive (clients reuse connections,
as they do with Amazon) and Nagle disabled (header and body writes must not wait for
delayed ACKs), serving from a daemon thread so a forgotten server never blocks exit.
"""

from __future__ import annotations

import contextlib
import sys
import threading
import time
import traceback
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

from typing_extensions import override

from spapi_standin.app import App, RawRequest
from spapi_standin.builder import build_dataset
from spapi_standin.config import StandInConfig
from spapi_standin.faults import SLOW_SECONDS
from spapi_standin.notifications import seller_id_of
from spapi_standin.replies import Reply, error

if TYPE_CHECKING:
    from collections.abc import Mapping
    from datetime import datetime
    from types import TracebackType

    from spapi_standin.data import Dataset
    from spapi_standin.notifications import NotificationsService
    from spapi_standin.reports import ReportsService
    from spapi_standin.stats import Stats

REQUEST_ID_HEADER = "x-amzn-RequestId"


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256

    def __init__(self, address: tuple[str, int], app: App) -> None:
        super().__init__(address, _Handler)
        self.app = app


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server: _Server
    server_version = "spapi-standin"

    def do_GET(self) -> None:
        self._serve()

    do_POST = do_PUT = do_DELETE = do_PATCH = do_GET  # noqa: N815

    @override
    def version_string(self) -> str:
        """`Server: spapi-standin` (no Python version)."""
        return self.server_version

    @override
    def log_message(self, format: str, *args: object) -> None:
        """Quiet: tests and benchmarks do not want a line per request on stderr."""

    def _serve(self) -> None:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            self._write(error(411, "LengthRequired", "Send a Content-Length."))
            self.close_connection = True
            return
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        original = dict(self.headers.items())
        raw = RawRequest(
            self.command, self.path, {k.lower(): v for k, v in original.items()}, original, body
        )
        app = self.server.app
        try:
            key, reply = app.handle(raw)
        except Exception as exc:  # a stand-in bug: answer like Amazon's 500, keep serving
            traceback.print_exc(file=sys.stderr)
            key, reply = "error", error(500, "InternalFailure", f"stand-in error: {exc!r}")
        delay = app.faults.latency()
        if delay:
            time.sleep(delay)
        app.stats.add(key, reply.action if reply.action != "send" else str(reply.status))
        self._write(reply)

    def _write(self, reply: Reply) -> None:
        if reply.action == "drop":
            self.close_connection = True
            return
        if reply.action == "slow":
            time.sleep(SLOW_SECONDS)  # the client has given up by now
            self.close_connection = True
            with contextlib.suppress(OSError):  # the client closed the connection
                self._send(reply)
            return
        self._send(reply)

    def _send(self, reply: Reply) -> None:
        body = reply.body
        self.send_response(reply.status)
        self.send_header(REQUEST_ID_HEADER, str(uuid.uuid4()))
        for name, value in reply.headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        if reply.action == "truncate":
            self.send_header("Connection", "close")
            self.close_connection = True
            body = body[: len(body) // 2]
        self.end_headers()
        if self.command == "HEAD":
            return
        if reply.action == "trickle":
            self._trickle(body)
        else:
            self.wfile.write(body)

    def _trickle(self, body: bytes) -> None:
        """Send `body` in chunks at `document_bytes_per_second` (a slow download)."""
        rate = self.server.app.config.document_bytes_per_second
        chunk = 16 * 1024
        with contextlib.suppress(OSError):  # the client went away (a killed tap)
            for offset in range(0, len(body), chunk):
                self.wfile.write(body[offset : offset + chunk])
                self.wfile.flush()
                time.sleep(chunk / rate)


class StandIn:
    """A local SP-API: `with StandIn(StandInConfig(...)) as server: server.base_url`."""

    def __init__(self, config: StandInConfig | None = None) -> None:
        self.config = config or StandInConfig()
        self.dataset: Dataset = build_dataset(self.config)
        self.app = App(self.config, self.dataset)
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -----------------------------------------------------------------------------

    def start(self) -> StandIn:
        """Bind and serve in a daemon thread (idempotent)."""
        if self._server is None:
            self._server = _Server((self.config.host, self.config.port), self.app)
            self._thread = threading.Thread(
                target=self._server.serve_forever,
                kwargs={"poll_interval": 0.1},
                name=f"spapi-standin:{self.port}",
                daemon=True,
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and release the port (idempotent)."""
        self.reports.stop()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> StandIn:
        return self.start()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- where it listens ----------------------------------------------------------------------

    @property
    def port(self) -> int:
        """The bound port (the configured one before start)."""
        return self._server.server_address[1] if self._server is not None else self.config.port

    @property
    def base_url(self) -> str:
        """`http://127.0.0.1:PORT`, the SP-API endpoint to give clients."""
        if self._server is None:
            raise RuntimeError("the stand-in is not started")
        return f"http://{self.config.host}:{self.port}"

    @property
    def lwa_token_url(self) -> str:
        """The Login with Amazon token endpoint."""
        return f"{self.base_url}/auth/o2/token"

    # -- observation and control ---------------------------------------------------------------

    @property
    def stats(self) -> Stats:
        """Request and status counters per operationId ("lwa", "sigv4", "unknown" too)."""
        return self.app.stats

    def inject(
        self,
        operation_id: str,
        status: int | str = 500,
        times: int = 1,
        body: Mapping[str, object] | None = None,
        matching: str | None = None,
    ) -> None:
        """Answer the next `times` requests of `operation_id` (or "lwa") with `status`.

        `status` is an HTTP status or "drop" (close the connection unanswered) or
        "truncate" (send half the body of the real answer); `matching` limits it to
        requests whose path and query contain that text (one order, one package).
        """
        self.app.faults.inject(operation_id, status, times, body, matching)

    def clear_faults(self) -> None:
        """Drop every scripted fault not used yet (the service recovers)."""
        self.app.faults.clear()

    def expire_tokens(self) -> None:
        """Expire every access token and RDT issued so far (clients must refresh)."""
        self.app.tokens.expire_all()

    def issued_tokens(self) -> list[str]:
        """Every access token and RDT value issued so far."""
        return self.app.tokens.values()

    def last_request_headers(self, operation_id: str) -> dict[str, str]:
        """Headers (as sent) of the last request to `operation_id`."""
        return self.app.stats.last_headers(operation_id)

    def touch(self, kind: str, count: int, at: datetime | None = None) -> list[Any]:
        """Shortcut for `dataset.touch` (records changed between two runs; their
        notifications are in the queues when it returns): ids, or (identifierType,
        identifierValue) pairs for `shipment_trackings`."""
        return self.dataset.touch(kind, count, at)

    @property
    def reports(self) -> ReportsService:
        """The Reports API's reports and documents (script outcomes, plant reports)."""
        return self.app.operations.reports

    @property
    def notifications(self) -> NotificationsService:
        """Notifications v1: destinations, subscriptions, and what is published."""
        return self.app.operations.notifications

    @staticmethod
    def seller_id_of(refresh_token: str) -> str:
        """The selling partner id the stand-in gives a refresh token (notifications name it)."""
        return seller_id_of(refresh_token)

    def schedule_report(
        self,
        report_type: str,
        data_start: datetime | None,
        data_end: datetime | None,
        *,
        refresh_token: str | None = None,
        marketplace_ids: list[str] | None = None,
    ) -> str:
        """A report Amazon's own schedule made, finished at once (DONE with a document, or
        CANCELLED when its range holds no rows), and its REPORT_PROCESSING_FINISHED
        notification published; its id. `refresh_token` names the seller (needed when the
        stand-in knows several)."""
        if refresh_token is None:
            if len(self.config.refresh_tokens) != 1:
                raise ValueError("name the seller: refresh_token=...")
            (refresh_token,) = self.config.refresh_tokens
        marketplaces = marketplace_ids or self.config.marketplaces[:1]
        return self.reports.plant(refresh_token, report_type, marketplaces, data_start, data_end)

    def reset_rate_limits(self) -> None:
        """Refill every usage-plan bucket."""
        self.app.limiter.reset()
