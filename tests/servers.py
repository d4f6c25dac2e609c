"""Real servers the tests start on loopback: a Redis broker, Celery workers, a client's receiver."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from standardwebhooks.webhooks import Webhook, WebhookVerificationError

ROOT = Path(__file__).resolve().parent.parent
BIN = ROOT / ".venv" / "bin"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(condition: Callable[[], Any], *, timeout: float = 20, interval: float = 0.05, what: str = "") -> Any:
    """Poll until `condition()` is truthy; fail the test with `what` if it never is."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {what or condition}")


class RedisServer:
    """A throwaway redis-server on its own port, which a test may stop and start again."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_until(self.answers, timeout=10, what="redis-server to answer")

    def answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)
            self.process = None


@dataclass
class Worker:
    """A real `celery worker` process (with beat embedded when asked)."""

    process: subprocess.Popen[bytes]
    log: Path

    def kill(self) -> None:
        """SIGKILL the whole process group: the worker and its pool children, as a crash would."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()


def start_worker(*, env: dict[str, str], log_dir: Path, beat: bool, name: str) -> Worker:
    log = log_dir / f"{name}.log"
    command = [
        str(BIN / "celery"),
        "-A",
        "config",
        "--quiet",  # no banner: every line is a JSON log line
        "worker",
        "-Q",
        "celery,deliveries,deliveries_retry,pybossa",
        "--concurrency=2",
        "--loglevel=INFO",
        "--without-gossip",
        "--without-mingle",
        "--without-heartbeat",
        f"--hostname={name}@%h",
    ]
    if beat:
        command += ["--beat", f"--schedule={log_dir / (name + '-beat')}"]
    with log.open("wb") as out:
        process = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    wait_until(lambda: b"ready." in log.read_bytes() or process.poll() is not None, timeout=60, what="worker start")
    assert process.poll() is None, log.read_text()
    return Worker(process, log)


@dataclass
class Web:
    """A real gunicorn serving Tally (config/gunicorn.py), its stdout and stderr kept apart."""

    process: subprocess.Popen[bytes]
    url: str
    out: Path
    err: Path

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)


def start_gunicorn(*, env: dict[str, str], log_dir: Path, name: str = "web") -> Web:
    port = free_port()
    out, err = log_dir / f"{name}.out", log_dir / f"{name}.err"
    with out.open("wb") as stdout, err.open("wb") as stderr:
        process = subprocess.Popen(
            [str(BIN / "gunicorn"), "config.wsgi", "-c", "config/gunicorn.py"],
            cwd=ROOT,
            env={**env, "HOST": "127.0.0.1", "PORT": str(port), "WEB_CONCURRENCY": "1"},
            stdout=stdout,
            stderr=stderr,
            start_new_session=True,
        )
    web = Web(process, f"http://127.0.0.1:{port}", out, err)

    def answers() -> bool:
        assert process.poll() is None, err.read_text()
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return True
        except OSError:
            return False

    wait_until(answers, timeout=30, what="gunicorn to listen")
    return web


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


class Receiver:
    """A client company's server: verifies each push with the reference library, answers as scripted."""

    def __init__(self) -> None:
        self.secret = ""
        self.requests: list[Received] = []
        self.script: list[Reply] = []
        self.default = Reply()
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                headers = {k.lower(): v for k, v in self.headers.items()}
                try:
                    Webhook(receiver.secret).verify(body, headers)
                    verified = True
                except (WebhookVerificationError, ValueError):
                    verified = False
                with receiver._lock:
                    receiver.requests.append(Received(headers, body, verified))
                    reply = receiver.script.pop(0) if receiver.script else receiver.default
                if reply.hold is not None:
                    reply.hold.wait(timeout=60)
                if reply.delay:
                    time.sleep(reply.delay)
                try:
                    self.send_response(reply.status)
                    for key, value in reply.headers.items():
                        self.send_header(key, value)
                    self.send_header("Content-Length", str(len(reply.body)))
                    self.end_headers()
                    self.wfile.write(reply.body)
                except OSError:
                    pass  # the pusher gave up (timeout) or died

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def answer(self, *replies: Reply) -> None:
        with self._lock:
            self.script.extend(replies)

    def bodies(self) -> list[Any]:
        with self._lock:
            return [r.json for r in self.requests]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class RawReceiver:
    """A receiver that answers at the socket level, as a broken server would.

    `respond(sock)` writes whatever bytes it likes after the request has been
    read in full; the connection is closed afterwards.
    """

    def __init__(self, respond: Callable[[socket.socket], None]) -> None:
        self.respond = respond
        self.requests = 0
        self._sock = socket.create_server(("127.0.0.1", 0))
        self._sock.settimeout(0.2)
        self.url = f"http://127.0.0.1:{self._sock.getsockname()[1]}/hooks"
        self._closing = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while not self._closing.is_set():
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn: socket.socket) -> None:
        with conn:
            conn.settimeout(30)
            data = b""
            try:
                while b"\r\n\r\n" not in data:
                    chunk = conn.recv(65536)
                    if not chunk:
                        return
                    data += chunk
                head, _, body = data.partition(b"\r\n\r\n")
                length = next(
                    (
                        int(line.split(b":", 1)[1])
                        for line in head.split(b"\r\n")
                        if line.lower().startswith(b"content-length:")
                    ),
                    0,
                )
                while len(body) < length:
                    chunk = conn.recv(65536)
                    if not chunk:
                        return
                    body += chunk
                self.requests += 1
                self.respond(conn)
            except OSError:
                pass  # the pusher gave up, as it should

    def close(self) -> None:
        self._closing.set()
        self._sock.close()


@dataclass
class BotReply:
    """A scripted answer of the fake Bot API to one sendMessage."""

    status: int = 200
    payload: dict[str, Any] | None = None


class FakeTelegram:
    """A Bot API server on loopback: getMe, sendMessage, getUpdates and friends, as Telegram answers them."""

    def __init__(self, token: str) -> None:
        self.token = token
        self.sent: list[dict[str, Any]] = []
        self.calls: list[str] = []
        self.script: list[BotReply] = []
        self.updates: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._next_message_id = 1
        self._next_update_id = 1000
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _params(self) -> dict[str, Any]:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
                kind = self.headers.get("Content-Type", "")
                if "json" in kind:
                    return dict(json.loads(raw or "{}"))
                from urllib.parse import parse_qsl

                return dict(parse_qsl(raw))

            def do_POST(self) -> None:
                prefix = f"/bot{fake.token}/"
                if not self.path.startswith(prefix):
                    self._reply(404, {"ok": False, "error_code": 404, "description": "Not Found"})
                    return
                method = self.path[len(prefix) :].split("?")[0]
                params = self._params()
                with fake._lock:
                    fake.calls.append(method)
                status, payload = fake._answer(method, params)
                self._reply(status, payload)

            do_GET = do_POST

            def _reply(self, status: int, payload: dict[str, Any]) -> None:
                body = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def _answer(self, method: str, params: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        if method == "getMe":
            user = {"id": 4242, "is_bot": True, "first_name": "Tally", "username": "tally_test_bot"}
            return 200, {"ok": True, "result": user}
        if method == "getUpdates":
            with self._lock:
                offset = int(params.get("offset") or 0)
                pending = [u for u in self.updates if u["update_id"] >= offset]
                self.updates = pending
            return 200, {"ok": True, "result": pending}
        if method in {"deleteWebhook", "setMyCommands"}:
            return 200, {"ok": True, "result": True}
        if method == "sendMessage":
            with self._lock:
                reply = self.script.pop(0) if self.script else BotReply()
                if reply.status == 200:
                    self.sent.append(params)
                    message_id = self._next_message_id
                    self._next_message_id += 1
            if reply.status != 200:
                return reply.status, reply.payload or {"ok": False, "error_code": reply.status, "description": "error"}
            chat = {"id": int(params["chat_id"]), "type": "group", "title": "ops"}
            result = {"message_id": message_id, "date": int(time.time()), "chat": chat, "text": params.get("text", "")}
            return 200, {"ok": True, "result": result}
        return 404, {"ok": False, "error_code": 404, "description": "Not Found: method not found"}

    def add_message(self, chat_id: int, text: str) -> None:
        """A user writes to the bot in a chat."""
        with self._lock:
            self._next_update_id += 1
            update_id = self._next_update_id
            self.updates.append(
                {
                    "update_id": update_id,
                    "message": {
                        "message_id": update_id,
                        "date": int(time.time()),
                        "chat": {"id": chat_id, "type": "group", "title": "ops"},
                        "from": {"id": 7, "is_bot": False, "first_name": "Op"},
                        "text": text,
                    },
                }
            )

    def texts(self, chat_id: str | None = None) -> list[str]:
        with self._lock:
            return [m["text"] for m in self.sent if chat_id is None or str(m["chat_id"]) == chat_id]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
