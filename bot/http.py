"""HTTP mode: ``POST /slack/events`` on waitress, with Slack's signature checked first; for operators
``GET /healthz`` (the process answers), ``GET /readyz`` (it can reach its database: a load balancer
sends it nothing while it can't) and ``GET /metrics`` (Prometheus, ``bot.metrics``).

Waitress (a maintained, pure-Python production WSGI server) reads each request in its event loop
before a worker thread sees it: a body over ``HttpLimits.max_body_bytes`` is refused with 413 as
soon as its Content-Length is known (or, chunked, as soon as that many bytes came), a connection
idle for ``idle_timeout`` is closed, and at most ``threads`` requests run at once (the others wait
in its queue, not in threads of their own). https://docs.pylonsproject.org/projects/waitress/en/stable/arguments.html

Bolt parses a body before its own signature check runs, so ``SlackWsgi`` verifies the signature
on the raw bytes first (Slack, "Verifying requests from Slack":
https://api.slack.com/authentication/verifying-requests-from-slack): an unsigned request is
answered 401 unparsed, and a signed request Bolt can't parse gets 400, never a 500.
"""

import hashlib
import hmac
import logging
import re
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from http import HTTPStatus
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

import waitress
from slack_bolt import App, BoltRequest
from slack_bolt.adapter.wsgi.http_request import WsgiHttpRequest

from bot.metrics import CONTENT_TYPE, render

if TYPE_CHECKING:
    from wsgiref.types import StartResponse, WSGIEnvironment

log = logging.getLogger(__name__)
EVENTS_PATH = "/slack/events"
TEXT = {"content-type": ["text/plain; charset=utf-8"]}
SIGNATURE_MAX_AGE_SECONDS = 5 * 60
"""Slack: requests older than five minutes are to be refused (a replayed request is)."""
TIMESTAMP = re.compile(r"[0-9]{1,12}")
"""Unix seconds in ASCII digits: ``str.isdigit`` also takes ``²`` (which ``int`` refuses: a 500) and ``int``
refuses more than 4,300 digits, so the header is matched before it is converted."""


@dataclass(frozen=True)
class HttpLimits:
    """What one client may cost the server."""

    max_body_bytes: int = 1024 * 1024
    """Slack's payloads are a few kB (a modal submission with every field full stays far below 100 kB)."""
    idle_timeout: float = 10.0
    """Seconds a connection may send nothing before it is closed; Slack sends a request at once."""
    cleanup_interval: float = 2.0
    """How often idle connections are looked for (so one lives at most about ``idle_timeout`` + this)."""
    threads: int = 32
    """Requests handled at once. A thread is held only until the listener acks (its follow-up work runs
    on Bolt's listener pool), so 32 covers an approvers' channel clicking at once (bench/contention.py)."""
    connection_limit: int = 200
    """Open connections; beyond it new ones wait in the listen backlog."""
    backlog: int = 128
    """Listen backlog: a burst of clicks arrives as a burst of connections (with 5, the kernel refused some)."""


def bolt_request(raw_body: str, query: str, headers: dict[str, Any]) -> BoltRequest:
    """A BoltRequest for a verified body; a slash command whose text contains "payload" parses as the command it is.

    Bolt takes any form body containing the substring "payload" for interactivity and parses it to
    nothing. Such a command is handed to Bolt already parsed, which Bolt's public API allows only
    in Socket Mode's form: that form skips Bolt's signature check, which ``SlackWsgi`` did already.
    """
    request = BoltRequest(body=raw_body, query=query, headers=headers)
    if not request.body and raw_body and not raw_body.startswith("{"):
        form = dict(parse_qsl(raw_body, keep_blank_values=True))
        if "command" in form and "payload" not in form:
            return BoltRequest(body=form, query=query, headers=headers, mode="socket_mode")
    return request


class BadRequest(Exception):
    """A signed request whose body Bolt could not make sense of."""


def parse(raw: bytes, query: str, headers: dict[str, Any]) -> BoltRequest:
    """The verified body as Bolt's request; ``BadRequest`` for bad UTF-8, bad or too deep JSON, or non-objects."""
    try:
        request = bolt_request(raw.decode("utf-8"), query, headers)
    except (ValueError, RecursionError) as error:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        raise BadRequest(type(error).__name__) from None
    if not isinstance(request.body, dict):
        raise BadRequest(f"a {type(request.body).__name__} body, not an object")
    return request


class SlackWsgi:
    """WSGI app routing Slack's signed requests to Bolt, plus a health check for load balancers."""

    def __init__(
        self,
        app: App,
        signing_secret: str | None,
        limits: HttpLimits = HttpLimits(),
        clock: Callable[[], float] = time.time,
        *,
        ready: Callable[[], object] | None = None,
        metrics: Callable[[], bytes] = render,
    ) -> None:
        self.app = app
        self.ready = ready
        """Raises (or returns false) while the bot can't serve, e.g. its database is unreachable."""
        self.metrics = metrics
        self.signing_secret = signing_secret.encode() if signing_secret else None
        """None in Socket Mode: Slack's payloads come over the WebSocket, so only ``/healthz`` is served."""
        self.limits = limits
        self.clock = clock

    def __call__(self, environ: "WSGIEnvironment", start_response: "StartResponse") -> Iterable[bytes]:
        def logged(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            log.debug("%s %s: %s", environ.get("REQUEST_METHOD"), environ.get("PATH_INFO"), status)
            return start_response(status, headers, exc_info)

        return self.answer(environ, logged)

    def answer(self, environ: "WSGIEnvironment", start_response: "StartResponse") -> Iterable[bytes]:
        request = WsgiHttpRequest(environ)
        if request.method == "GET" and request.path == "/healthz":
            return respond(start_response, 200, TEXT, "ok")
        if request.method == "GET" and request.path == "/readyz":
            return self.readiness(start_response)
        if request.method == "GET" and request.path == "/metrics":
            return respond(start_response, 200, {"content-type": [CONTENT_TYPE]}, self.metrics().decode())
        if request.method != "POST" or request.path != EVENTS_PATH or self.signing_secret is None:
            return respond(start_response, 404, TEXT, "Not Found")
        raw = self.read_body(environ)
        if raw is None:
            return respond(start_response, 413, TEXT, "Request body too large")
        headers = request.get_headers()
        if not self.signed(raw, headers):
            log.info("refused a request without a valid Slack signature (%d bytes)", len(raw))
            return respond(start_response, 401, TEXT, "invalid request")
        try:
            bolt = parse(raw, request.query_string, headers)
            response = self.app.dispatch(bolt)
        except BadRequest as error:
            log.warning("refused a signed request Bolt can't parse: %s", error)
            return respond(start_response, 400, TEXT, "Bad Request")
        except Exception as error:
            log.warning("refused a signed request Bolt failed on: %s", type(error).__name__)
            return respond(start_response, 400, TEXT, "Bad Request")
        return respond(start_response, response.status, response.headers, response.body)

    def readiness(self, start_response: "StartResponse") -> list[bytes]:
        try:
            ready = self.ready is None or bool(self.ready())
        except Exception as error:
            log.warning("not ready: %s", type(error).__name__)
            ready = False
        if ready:
            return respond(start_response, 200, TEXT, "ready")
        return respond(start_response, 503, TEXT, "not ready: the database is unreachable")

    def read_body(self, environ: "WSGIEnvironment") -> bytes | None:
        """The body, or None (unread) when its Content-Length is over the limit or no number.

        Whatever the server, no more than the limit is read; waitress also cuts off a chunked body there.
        """
        limit = self.limits.max_body_bytes
        try:
            declared = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return None
        if declared > limit or declared < 0:
            return None
        raw: bytes = environ["wsgi.input"].read(declared) if declared else b""
        return raw

    def signed(self, raw: bytes, headers: dict[str, Any]) -> bool:
        """Slack's v0 signature over the raw bytes, at most five minutes old.

        ``v0=`` + hex HMAC-SHA256 of ``v0:{timestamp}:{body}`` with the signing secret (Slack,
        "Verifying requests from Slack"). Done here rather than with slack_sdk's ``SignatureVerifier``,
        which decodes the body as UTF-8 first and so can't tell a signed non-UTF-8 body from a forged one.
        """
        timestamp, signature = headers.get("x-slack-request-timestamp"), headers.get("x-slack-signature")
        if self.signing_secret is None:
            return False
        if not isinstance(timestamp, str) or not isinstance(signature, str) or not TIMESTAMP.fullmatch(timestamp):
            return False
        if abs(self.clock() - int(timestamp)) > SIGNATURE_MAX_AGE_SECONDS:
            return False
        base = b"v0:" + timestamp.encode() + b":" + raw
        expected = "v0=" + hmac.new(self.signing_secret, base, hashlib.sha256).hexdigest()
        return hmac.compare_digest(expected.encode(), signature.encode("utf-8", "replace"))


def respond(
    start_response: "StartResponse", status: int, headers: Mapping[str, Sequence[str]], body: str
) -> list[bytes]:
    data = body.encode()
    flat = [(name, value) for name, values in headers.items() for value in values if name.lower() != "content-length"]
    phrase = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else "Unknown"
    start_response(f"{status} {phrase}", [*flat, ("Content-Length", str(len(data)))])
    return [data]


class HttpServer:
    """A waitress server with ``serve_forever`` / ``shutdown`` / ``server_close``, like ``socketserver``'s."""

    def __init__(self, wsgi: Callable[..., Iterable[bytes]], *, host: str, port: int, limits: HttpLimits) -> None:
        self._sockets: dict[int, Any] = {}
        """waitress's socket map: the listener, its wake-up trigger and every open connection."""
        self._server: Any = waitress.create_server(
            wsgi,
            map=self._sockets,
            host=host,
            port=port,
            threads=limits.threads,
            channel_timeout=limits.idle_timeout,
            cleanup_interval=limits.cleanup_interval,
            max_request_body_size=limits.max_body_bytes + 1,  # waitress refuses at >= its setting
            connection_limit=limits.connection_limit,
            backlog=limits.backlog,
            asyncore_use_poll=True,  # select() can't watch descriptors numbered 1024 and up
            clear_untrusted_proxy_headers=True,
            ident="iam-role-bot",
        )
        self.server_port: int = self._server.effective_port
        self._lock = threading.Lock()
        self._serving = False
        self._closed = False
        self._stopped = threading.Event()

    def serve_forever(self, poll_interval: float | None = None) -> None:
        """Serve until ``shutdown`` (``poll_interval`` is accepted for ``socketserver``'s callers, and unused)."""
        with self._lock:
            if self._closed:
                return
            self._serving = True
        try:
            self._server.run()
        finally:
            self._stopped.set()

    def shutdown(self) -> None:
        """Close the listener and every connection (in the server's loop, if serving) and wait for it; idempotent."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            serving = self._serving
        if serving and not self._stopped.is_set():
            try:
                self._server.trigger.pull_trigger(self._close_all)
            except OSError:  # the loop ended meanwhile and closed its trigger
                self._close_all()
            self._stopped.wait(timeout=10)
        else:
            self._close_all()

    def _close_all(self) -> None:
        for dispatcher in list(self._sockets.values()):
            dispatcher.close()
        self._server.task_dispatcher.shutdown(cancel_pending=True, timeout=5)

    def server_close(self) -> None:
        """Nothing is left to release after ``shutdown``; kept for ``socketserver``'s callers."""


def make_http_server(
    app: App,
    *,
    host: str,
    port: int,
    signing_secret: str | None,
    limits: HttpLimits = HttpLimits(),
    ready: Callable[[], object] | None = None,
    metrics: Callable[[], bytes] = render,
) -> HttpServer:
    """A server (not yet serving) for the app; ``port=0`` picks a free port. No ``signing_secret``: no Slack
    endpoint, only the operators' (``/healthz``, ``/readyz``, ``/metrics``)."""
    wsgi = SlackWsgi(app, signing_secret, limits, ready=ready, metrics=metrics)
    return HttpServer(wsgi, host=host, port=port, limits=limits)
