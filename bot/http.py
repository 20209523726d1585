"""HTTP mode: a small threaded WSGI server for ``POST /slack/events`` and ``GET /healthz``."""

import logging
from collections.abc import Iterable, Mapping, Sequence
from socketserver import ThreadingMixIn
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from slack_bolt import App, BoltContext, BoltRequest
from slack_bolt.adapter.wsgi.http_request import WsgiHttpRequest
from slack_bolt.request.internals import build_context

if TYPE_CHECKING:
    from wsgiref.types import StartResponse, WSGIEnvironment

log = logging.getLogger(__name__)
EVENTS_PATH = "/slack/events"


def bolt_request(raw_body: str, query: str, headers: dict[str, str | Sequence[str]]) -> BoltRequest:
    """A BoltRequest; a slash command whose text contains "payload" is parsed as the command it is.

    Bolt takes any form body containing the substring "payload" for interactivity and parses it
    to nothing; the signature is checked on the raw body either way.
    """
    request = BoltRequest(body=raw_body, query=query, headers=headers)
    if not request.body and raw_body and not raw_body.startswith("{"):
        form = dict(parse_qsl(raw_body, keep_blank_values=True))
        if "command" in form and "payload" not in form:
            request.body = form
            request.context = build_context(BoltContext({}), form)
    return request


class SlackWsgi:
    """WSGI app routing Slack's requests to Bolt, plus a health check for load balancers."""

    def __init__(self, app: App) -> None:
        self.app = app

    def __call__(self, environ: "WSGIEnvironment", start_response: "StartResponse") -> Iterable[bytes]:
        request = WsgiHttpRequest(environ)
        if request.method == "GET" and request.path == "/healthz":
            return self.respond(start_response, 200, {"content-type": ["text/plain"]}, "ok")
        if request.method != "POST" or request.path != EVENTS_PATH:
            return self.respond(start_response, 404, {"content-type": ["text/plain"]}, "Not Found")
        response = self.app.dispatch(bolt_request(request.get_body(), request.query_string, request.get_headers()))
        return self.respond(start_response, response.status, response.headers, response.body)

    @staticmethod
    def respond(
        start_response: "StartResponse", status: int, headers: Mapping[str, Sequence[str]], body: str
    ) -> list[bytes]:
        data = body.encode()
        flat = [
            (name, value) for name, values in headers.items() for value in values if name.lower() != "content-length"
        ]
        start_response(f"{status} {'OK' if status < 400 else 'Error'}", [*flat, ("Content-Length", str(len(data)))])
        return [data]


class ThreadingWsgiServer(ThreadingMixIn, WSGIServer):
    """A thread per request; a listen backlog of 128 rather than socketserver's 5.

    Slack opens a connection per request, so a burst of clicks (an approvers' channel reacting at
    once) arrives as a burst of connections; with a backlog of 5 the kernel refused the rest, and
    those clicks failed in Slack or waited out TCP retries (bench/contention.py).
    """

    daemon_threads = True
    request_queue_size = 128


class QuietHandler(WSGIRequestHandler):
    """Logs requests at debug level only: no bodies, no secrets."""

    def log_message(self, format: str, *args: object) -> None:
        log.debug("%s %s", self.address_string(), format % args)


def make_http_server(app: App, *, host: str, port: int) -> WSGIServer:
    """A server (not yet serving) for the app; ``port=0`` picks a free port."""
    return make_server(host, port, SlackWsgi(app), server_class=ThreadingWsgiServer, handler_class=QuietHandler)
