"""The requests session every stream sends through (transport.py)."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any, ClassVar

import pytest
import requests
from typing_extensions import override

from tap_spapi.wire.transport import ProxiesOnceSession

if TYPE_CHECKING:
    from collections.abc import Iterator


class _Proxy(BaseHTTPRequestHandler):
    """A forward proxy that answers every request itself, noting the request line."""

    seen: ClassVar[list[str]] = []

    def do_GET(self) -> None:  # the handler's name for GET (http.server's convention)
        _Proxy.seen.append(self.requestline)
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    @override
    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def proxy() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Proxy)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    _Proxy.seen = []
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_the_environment_s_proxies_apply_and_are_read_once_per_host(proxy, monkeypatch) -> None:
    monkeypatch.setenv("HTTP_PROXY", proxy)
    monkeypatch.setenv("NO_PROXY", "direct.invalid")
    resolved = []
    resolve = requests.utils.resolve_proxies

    def counting(*args: Any) -> Any:
        resolved.append(args[0].url)
        return resolve(*args)

    monkeypatch.setattr(requests.utils, "resolve_proxies", counting)
    session = ProxiesOnceSession()

    def send(url: str) -> requests.Response:  # as singer-sdk sends: prepare, then send
        return session.send(session.prepare_request(requests.Request("GET", url)))

    for page in range(3):
        assert send(f"http://sellingpartnerapi.invalid/p?page={page}").json() == {}
    assert _Proxy.seen == [
        f"GET http://sellingpartnerapi.invalid/p?page={page} HTTP/1.1" for page in range(3)
    ]
    assert len(resolved) == 1  # once for the host, not once per request
    with pytest.raises(requests.ConnectionError):  # NO_PROXY: straight to the host
        send("http://direct.invalid/p")
    assert len(_Proxy.seen) == 3
