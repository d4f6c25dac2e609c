"""HTTP servers on loopback standing in for other people's: a client company's receiver, and a broken one."""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar, Self

from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from tests.support.processes import HOST


class Handler(BaseHTTPRequestHandler):
    """One connection to a `LoopbackServer`, whose `handle` answers each request on it."""

    protocol_version = "HTTP/1.1"
    # Headers and body leave in separate writes: without this, delayed ACKs cost 40 ms a request.
    disable_nagle_algorithm = True
    server: _Server

    def _dispatch(self) -> None:
        owner = self.server.owner
        if self.command in owner.methods:
            owner.handle(self)
        else:
            self.send_error(HTTPStatus.NOT_IMPLEMENTED, f"Unsupported method ({self.command!r})")

    do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = _dispatch

    def body(self) -> bytes:
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def answer(self, status: int, body: bytes, headers: Mapping[str, str] | None = None) -> None:
        """Send a whole response: `headers`, a Content-Length and `body`."""
        with contextlib.suppress(OSError):  # the client gave up (timeout) or died
            self.send_response(status)
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # no access lines in the output


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, owner: LoopbackServer) -> None:
        self.owner = owner
        self.request_queue_size = owner.backlog  # read when the socket starts listening, in __init__
        super().__init__((HOST, 0), Handler)


class LoopbackServer:
    """An HTTP/1.1 server on a free 127.0.0.1 port, a thread a connection; `handle` answers each request.

    It listens from the start (so `url` is known) and serves from `start()` until `close()`.
    """

    methods: ClassVar[frozenset[str]] = frozenset({"POST"})  # others are answered 501
    backlog: ClassVar[int] = 5  # connections the kernel holds until they are accepted

    def __init__(self, path: str = "") -> None:
        self.server = _Server(self)
        self.port = int(self.server.server_address[1])
        self.url = f"http://{HOST}:{self.port}{path}"
        self._serving: threading.Thread | None = None

    def handle(self, request: Handler) -> None:
        raise NotImplementedError

    def start(self) -> Self:
        self._serving = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._serving.start()
        return self

    def close(self) -> None:
        if self._serving is not None:
            self.server.shutdown()
            self._serving = None
        self.server.server_close()


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes
    verified: bool

    @property
    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Reply:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b"ok"
    delay: float = 0.0
    hold: threading.Event | None = None  # answer only once this is set


class Receiver(LoopbackServer):
    """A client company's server: verifies each push with the reference library, answers as scripted."""

    def __init__(self) -> None:
        super().__init__("/hooks")
        self.secret = ""
        self.requests: list[Received] = []
        self.script: list[Reply] = []
        self.default = Reply()
        self._lock = threading.Lock()
        self.start()

    def handle(self, request: Handler) -> None:
        body = request.body()
        headers = {k.lower(): v for k, v in request.headers.items()}
        try:
            Webhook(self.secret).verify(body, headers)
            verified = True
        except (WebhookVerificationError, ValueError):
            verified = False
        with self._lock:
            self.requests.append(Received(headers, body, verified))
            reply = self.script.pop(0) if self.script else self.default
        if reply.hold is not None:
            reply.hold.wait(timeout=60)
        if reply.delay:
            time.sleep(reply.delay)
        request.answer(reply.status, reply.body, reply.headers)

    def answer(self, *replies: Reply) -> None:
        with self._lock:
            self.script.extend(replies)

    def bodies(self) -> list[Any]:
        with self._lock:
            return [r.json for r in self.requests]


@contextlib.contextmanager
def silent_server() -> Iterator[int]:
    """A port that accepts connections (the kernel completes the handshake) and never answers a byte."""
    with socket.create_server((HOST, 0), backlog=16) as sock:
        yield sock.getsockname()[1]


class RawReceiver(LoopbackServer):
    """A receiver that answers at the socket level, as a broken server would.

    `respond(sock)` writes whatever bytes it likes after the request has been
    read in full; the connection is closed afterwards.
    """

    def __init__(self, respond: Callable[[socket.socket], None]) -> None:
        super().__init__("/hooks")
        self.respond = respond
        self.requests = 0
        self.start()

    def handle(self, request: Handler) -> None:
        request.body()
        self.requests += 1
        request.close_connection = True
        with contextlib.suppress(OSError):  # the pusher gave up, as it should
            self.respond(request.connection)
