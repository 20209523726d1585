"""A local fake of the Slack Web API that records every call.

Point slack_sdk at it with ``WebClient(token=..., base_url=fake.url)``::

    with FakeSlack() as fake:
        client = WebClient(token="xoxb-test", base_url=fake.url)
        client.chat_postMessage(channel="C1", text="hi")
        assert fake.last("chat.postMessage").params["text"] == "hi"

Bodies may be form-encoded or JSON; ``blocks``, ``attachments`` and ``view`` sent as JSON strings
are decoded so tests can assert on them as data. Failures (errors, HTTP 429 with ``Retry-After``)
and slowness can be injected per method.
"""

from __future__ import annotations

import contextlib
import json
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qsl, urlsplit

BOT_USER_ID = "UBOTUSER"
BOT_ID = "BBOT"
TEAM_ID = "T0001"
TEAM_NAME = "Sandbox"
APP_ID = "A0SANDBOX"
WORKSPACE_URL = "https://sandbox.slack.com/"

_JSON_FIELDS = ("blocks", "attachments", "view")
_FIRST_TS_MICROS = 1_764_350_000_000_000
_TS_STEP_MICROS = 100

Response = dict[str, Any]


@dataclass(frozen=True)
class Call:
    """One Web API call: method, decoded params, bearer token, arrival time (time.time())."""

    method: str
    params: dict[str, Any]
    token: str | None
    at: float


@dataclass
class _Failure:
    error: str
    status: int
    retry_after: int | None
    remaining: int


class FakeSlack:
    """Slack Web API fake on 127.0.0.1 (ephemeral port), served from a daemon thread."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._calls: list[Call] = []
        self._failures: dict[str, _Failure] = {}
        self._delays: dict[str, float] = {}
        self._users: dict[str, dict[str, Any]] = {}
        self._usergroups: dict[str, list[str]] = {}
        self._next_ts_micros = _FIRST_TS_MICROS
        self._next_view = 0
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._responders: dict[str, Callable[[dict[str, Any]], Response]] = {
            "auth.test": self._auth_test,
            "chat.postMessage": self._chat_post_message,
            "chat.update": self._chat_update,
            "chat.postEphemeral": self._chat_post_ephemeral,
            "chat.getPermalink": self._chat_get_permalink,
            "views.open": self._view_response,
            "views.push": self._view_response,
            "views.update": self._view_response,
            "views.publish": self._view_response,
            "conversations.open": self._conversations_open,
            "users.info": self._users_info,
            "usergroups.users.list": self._usergroups_users_list,
        }

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> FakeSlack:
        """Start serving; returns self."""
        if self._server is not None:
            raise RuntimeError("FakeSlack is already started")
        self._server = _Server(self)
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.01},  # how quickly stop() is noticed
            name="fake-slack",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and free the port (no-op when not started)."""
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join()
        self._server = self._thread = None

    def __enter__(self) -> FakeSlack:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """Base URL for ``WebClient(base_url=...)``, e.g. ``http://127.0.0.1:PORT/api/``."""
        if self._server is None:
            raise RuntimeError("FakeSlack is not started")
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/api/"

    # -- configuration -----------------------------------------------------------------------

    def add_user(self, user_id: str, *, name: str | None = None, real_name: str | None = None) -> None:
        """Make ``users.info`` return this name / real name for ``user_id``."""
        with self._cond:
            self._users[user_id] = _user(user_id, name=name, real_name=real_name)

    def set_usergroup(self, group_id: str, user_ids: list[str]) -> None:
        """Make ``usergroups.users.list`` return ``user_ids`` for ``group_id``."""
        with self._cond:
            self._usergroups[group_id] = list(user_ids)

    def fail_next(
        self,
        method: str,
        *,
        error: str | None = None,
        status: int = 200,
        retry_after: int | None = None,
        times: int = 1,
    ) -> None:
        """Answer the next ``times`` calls of ``method`` with ``{"ok": false, "error": error}``.

        ``error`` defaults to "ratelimited" for status 429 and "internal_error" otherwise;
        ``retry_after`` adds a ``Retry-After`` header (seconds).
        """
        if error is None:
            error = "ratelimited" if status == 429 else "internal_error"
        with self._cond:
            self._failures[method] = _Failure(error, status, retry_after, times)

    def delay(self, method: str, seconds: float) -> None:
        """Make every call of ``method`` wait ``seconds`` before answering (0 removes the delay)."""
        with self._cond:
            if seconds > 0:
                self._delays[method] = seconds
            else:
                self._delays.pop(method, None)

    # -- inspection --------------------------------------------------------------------------

    def calls(self, method: str | None = None) -> list[Call]:
        """Recorded calls in arrival order, optionally only those of ``method``."""
        with self._cond:
            return [c for c in self._calls if method is None or c.method == method]

    def last(self, method: str) -> Call:
        """The most recent call of ``method``; AssertionError listing what was seen if none."""
        with self._cond:
            matching = [c for c in self._calls if c.method == method]
            if not matching:
                raise AssertionError(f"no {method} call; methods seen: {self._methods_seen()}")
            return matching[-1]

    def clear(self) -> None:
        """Forget recorded calls (injected failures, delays, users and groups are kept)."""
        with self._cond:
            self._calls.clear()

    def wait_for(
        self,
        method: str,
        predicate: Callable[[Call], bool] | None = None,
        timeout: float = 5.0,
    ) -> Call:
        """The first call of ``method`` matching ``predicate``, waiting up to ``timeout`` seconds.

        Calls recorded before this was called count too. Raises AssertionError with the calls seen
        on timeout.
        """
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for call in self._calls:
                    if call.method == method and (predicate is None or predicate(call)):
                        return call
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    same = [c.params for c in self._calls if c.method == method]
                    raise AssertionError(
                        f"no {method} call{' matching the predicate' if predicate else ''} "
                        f"within {timeout}s; methods seen: {self._methods_seen()}; "
                        f"{method} params seen: {same}"
                    )
                self._cond.wait(remaining)

    def _methods_seen(self) -> list[str]:
        return [c.method for c in self._calls]

    # -- serving -----------------------------------------------------------------------------

    def _handle(self, method: str, params: dict[str, Any], token: str | None) -> tuple[int, dict[str, str], Response]:
        """Record a call and decide the answer: (HTTP status, extra headers, JSON body)."""
        for field in _JSON_FIELDS:
            if isinstance(params.get(field), str):
                with contextlib.suppress(ValueError):  # if not JSON, keep it as sent
                    params[field] = json.loads(params[field])
        with self._cond:
            self._calls.append(Call(method, params, token, time.time()))
            self._cond.notify_all()
            pause = self._delays.get(method, 0.0)
            failure = self._failures.get(method)
            if failure is not None:
                failure.remaining -= 1
                if failure.remaining <= 0:
                    del self._failures[method]
        if pause:
            time.sleep(pause)
        if failure is not None:
            headers = {} if failure.retry_after is None else {"Retry-After": str(failure.retry_after)}
            return failure.status, headers, {"ok": False, "error": failure.error}
        responder = self._responders.get(method)
        return 200, {}, responder(params) if responder else {"ok": True}

    def _new_ts(self) -> str:
        with self._cond:
            micros = self._next_ts_micros
            self._next_ts_micros += _TS_STEP_MICROS
        return f"{micros // 1_000_000}.{micros % 1_000_000:06d}"

    def _new_view_id(self) -> str:
        with self._cond:
            self._next_view += 1
            return f"V{self._next_view:010d}"

    # -- responses ---------------------------------------------------------------------------

    def _auth_test(self, params: dict[str, Any]) -> Response:
        return {
            "ok": True,
            "url": WORKSPACE_URL,
            "team": TEAM_NAME,
            "user": "iam-role-bot",
            "team_id": TEAM_ID,
            "user_id": BOT_USER_ID,
            "bot_id": BOT_ID,
            "is_enterprise_install": False,
        }

    def _chat_post_message(self, params: dict[str, Any]) -> Response:
        ts = self._new_ts()
        message: dict[str, Any] = {
            "type": "message",
            "user": BOT_USER_ID,
            "bot_id": BOT_ID,
            "app_id": APP_ID,
            "team": TEAM_ID,
            "text": params.get("text", ""),
            "ts": ts,
        }
        for field in ("blocks", "attachments", "thread_ts"):
            if field in params:
                message[field] = params[field]
        return {
            "ok": True,
            "channel": _channel_id(params.get("channel", "")),
            "ts": ts,
            "message": message,
        }

    def _chat_update(self, params: dict[str, Any]) -> Response:
        return {
            "ok": True,
            "channel": params.get("channel"),
            "ts": params.get("ts"),
            "text": params.get("text", ""),
            "message": {"text": params.get("text", ""), "blocks": params.get("blocks", [])},
        }

    def _chat_post_ephemeral(self, params: dict[str, Any]) -> Response:
        return {"ok": True, "message_ts": self._new_ts()}

    def _chat_get_permalink(self, params: dict[str, Any]) -> Response:
        channel = params.get("channel", "")
        ts = str(params.get("message_ts", "")).replace(".", "")
        return {
            "ok": True,
            "channel": channel,
            "permalink": f"{WORKSPACE_URL}archives/{channel}/p{ts}",
        }

    def _view_response(self, params: dict[str, Any]) -> Response:
        submitted = params.get("view")
        view_id = params.get("view_id") or self._new_view_id()
        view = {
            "team_id": TEAM_ID,
            "app_id": APP_ID,
            "bot_id": BOT_ID,
            "state": {"values": {}},
            "root_view_id": view_id,
            "previous_view_id": None,
            **(submitted if isinstance(submitted, dict) else {}),
            "id": view_id,
            "hash": f"{int(time.time())}.{secrets.token_hex(4)}",
        }
        return {"ok": True, "view": view}

    def _conversations_open(self, params: dict[str, Any]) -> Response:
        if params.get("channel"):
            return {"ok": True, "channel": {"id": params["channel"]}}
        users = [u for u in str(params.get("users", "")).split(",") if u]
        if not users:
            return {"ok": False, "error": "users_list_not_supplied"}
        if len(users) == 1:
            return {
                "ok": True,
                "channel": {"id": _channel_id(users[0]), "is_im": True, "user": users[0]},
            }
        return {"ok": True, "channel": {"id": "G" + "".join(users), "is_mpim": True}}

    def _users_info(self, params: dict[str, Any]) -> Response:
        user_id = params.get("user")
        if not user_id:
            return {"ok": False, "error": "user_not_found"}
        with self._cond:
            user = self._users.get(user_id) or _user(user_id)
        return {"ok": True, "user": user}

    def _usergroups_users_list(self, params: dict[str, Any]) -> Response:
        with self._cond:
            users = self._usergroups.get(params.get("usergroup", ""))
        if users is None:
            return {"ok": False, "error": "no_such_subteam"}
        return {"ok": True, "users": list(users)}


def _channel_id(channel: str) -> str:
    """Messages "to a user" land in their DM channel, as on real Slack."""
    return "D" + channel if channel.startswith(("U", "W")) else channel


def _user(user_id: str, *, name: str | None = None, real_name: str | None = None) -> dict[str, Any]:
    name = name or user_id.lower()
    real_name = real_name or f"User {user_id}"
    return {
        "id": user_id,
        "team_id": TEAM_ID,
        "name": name,
        "real_name": real_name,
        "deleted": False,
        "is_bot": False,
        "tz": "UTC",
        "profile": {"display_name": name, "real_name": real_name},
    }


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, fake: FakeSlack) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.fake = fake


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_POST(self) -> None:
        url = urlsplit(self.path)
        if not url.path.startswith("/api/"):
            self._reply(404, {}, {"ok": False, "error": "not_found"})
            return
        params: dict[str, Any] = dict(parse_qsl(url.query, keep_blank_values=True))
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if raw and self.headers.get_content_type() == "application/json":
            try:
                body = json.loads(raw)
            except ValueError:
                body = None
            if not isinstance(body, dict):
                self._reply(200, {}, {"ok": False, "error": "invalid_json"})
                return
            params.update(body)
        elif raw:
            params.update(parse_qsl(raw.decode("utf-8"), keep_blank_values=True))
        auth = self.headers.get("Authorization", "")
        token = auth.removeprefix("Bearer ") if auth.startswith("Bearer ") else None
        token = token or params.pop("token", None)
        status, headers, payload = self.server.fake._handle(url.path[5:], params, token)
        self._reply(status, headers, payload)

    do_GET = do_POST

    def _reply(self, status: int, headers: dict[str, str], payload: Response) -> None:
        body = json.dumps(payload).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        """Stay quiet: no request log on stderr."""
