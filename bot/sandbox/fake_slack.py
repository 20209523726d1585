"""A local fake of the Slack Web API that records every call.

Point slack_sdk at it with ``WebClient(token=..., base_url=fake.url)``::

    with FakeSlack() as fake:
        client = WebClient(token="xoxb-test", base_url=fake.url)
        client.chat_postMessage(channel="C1", text="hi")
        assert fake.last("chat.postMessage").params["text"] == "hi"

Bodies may be form-encoded or JSON; ``blocks``, ``attachments`` and ``view`` sent as JSON strings
are decoded so tests can assert on them as data. Failures (errors, HTTP 429 with ``Retry-After``)
and slowness can be injected per method.

It is as strict as Slack where the bot could get it wrong: payloads are checked against Block Kit's
rules (``block_kit_rules``), a message's total text is budgeted (``msg_blocks_too_long``), trigger
ids expire after 3 s and are used once, ``views.update`` compares hashes, the bot posts only where
it is a member, methods need the manifest's scopes, and ``chat.postMessage`` is rate-limited per
channel. Each rule cites the Slack page it follows.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import json
import math
import secrets
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import yaml

from bot.sandbox import block_kit_rules

LOOPBACK = "127.0.0.1"
BOT_USER_ID = "UBOTUSER"
BOT_ID = "BBOT"
TEAM_ID = "T0001"
TEAM_NAME = "Sandbox"
APP_ID = "A0SANDBOX"
WORKSPACE_URL = "https://sandbox.slack.com/"

_JSON_FIELDS = ("blocks", "attachments", "view")
_FIRST_TS_MICROS = 1_764_350_000_000_000
_TS_STEP_MICROS = 100
MANIFEST = Path(__file__).resolve().parents[2] / "deploy" / "slack-app-manifest.yml"

TRIGGER_TTL_SECONDS = 3.0
"""https://docs.slack.dev/interactivity/handling-user-interaction ("trigger_id ... expires in 3 seconds");
a trigger is also exchanged only once (views.open: ``exchanged_trigger_id``)."""

POST_RATE_PER_SECOND = 1.0
POST_BURST = 3
"""https://docs.slack.dev/apis/web-api/rate-limits ("Posting messages: 1 per second [per channel]. Short
bursts >1 allowed"): a token bucket per channel, refilled at 1/s, holding 3 (the burst is not
documented; 3 is a guess on the strict side)."""

METHOD_SCOPES: dict[str, str | None] = {
    # each method's "Scopes" on https://docs.slack.dev/reference/methods/<method>
    "auth.test": None,
    "chat.postMessage": "chat:write",
    "chat.update": "chat:write",
    "chat.postEphemeral": "chat:write",
    "chat.getPermalink": None,
    "views.open": None,
    "views.push": None,
    "views.update": None,
    "views.publish": None,
    "conversations.open": "im:write",
    "users.info": "users:read",
    "usergroups.users.list": "usergroups:read",
    "files.getUploadURLExternal": "files:write",
    "files.completeUploadExternal": "files:write",
}
"""The bot token scope each method needs (None: no scope). A method not listed is unknown_method."""

Response = dict[str, Any]


@dataclass(frozen=True)
class Call:
    """One Web API call: method, decoded params, bearer token, arrival time (time.time())."""

    method: str
    params: dict[str, Any]
    token: str | None
    at: float
    response: dict[str, Any] = field(default_factory=dict)
    """What the fake answered (e.g. the view with its ``id`` and ``hash`` for views.open)."""


def new_trigger_id() -> str:
    """A trigger id as Slack gives one with each interaction; this fake reads its issue time back from it."""
    return f"{next(_trigger_numbers)}.{time.time_ns() // 1_000_000}.{secrets.token_hex(6)}"


_trigger_numbers = itertools.count(1)


def manifest_scopes(path: Path = MANIFEST) -> frozenset[str]:
    """The bot token scopes the app manifest asks for."""
    return _bot_scopes(path.read_text())


@functools.cache
def _bot_scopes(manifest_text: str) -> frozenset[str]:
    """The manifest's bot scopes, parsed once per text: every fake Slack reads them (YAML parsing, ~1.5 ms)."""
    manifest = yaml.safe_load(manifest_text)
    return frozenset(manifest["oauth_config"]["scopes"]["bot"])


CUT_HEADER = "X-Fake-Slack-Cut"
"""Set (internally, never sent) on an answer whose connection is to drop mid-body (``cut_next``)."""


@dataclass
class _Channel:
    member: bool
    archived: bool


@dataclass
class _Bucket:
    tokens: float
    updated: float


@dataclass
class _Failure:
    error: str
    status: int
    retry_after: int | None
    remaining: int
    in_thread: bool = False
    """Only replies in a thread (calls with ``thread_ts``) fail; others pass through."""


@dataclass
class _Hold:
    released: threading.Event
    remaining: int | None
    """Calls still to hold (None: every one)."""


class FakeSlack:
    """Slack Web API fake on 127.0.0.1 (ephemeral port), served from a daemon thread.

    ``scopes`` are the bot token's (default: the app manifest's); ``channels`` the channels the bot is
    in (more with ``add_channel``); ``post_rate``/``post_burst`` rate-limit ``chat.postMessage`` per
    channel (default Slack's; tests and the demo may loosen them to run fast); ``token`` the only
    token it accepts (default: any bot token, ``xoxb-…``).
    """

    def __init__(
        self,
        *,
        scopes: Iterable[str] | None = None,
        channels: Iterable[str] = (),
        post_rate: float = POST_RATE_PER_SECOND,
        post_burst: int = POST_BURST,
        token: str | None = None,
    ) -> None:
        self._cond = threading.Condition()
        self.token = token
        self.scopes = frozenset(manifest_scopes() if scopes is None else scopes)
        self.post_rate = post_rate
        self.post_burst = post_burst
        self._channels: dict[str, _Channel] = {channel: _Channel(member=True, archived=False) for channel in channels}
        self._buckets: dict[str, _Bucket] = {}
        self._triggers_used: set[str] = set()
        self._view_hashes: dict[str, str] = {}
        self._messages: set[tuple[str, str]] = set()
        self._refused: list[Call] = []
        self._calls: list[Call] = []
        self._failures: dict[str, _Failure] = {}
        self._delays: dict[str, float] = {}
        self._cuts: dict[str, int] = {}
        self._holds: dict[str, _Hold] = {}
        self._released: list[threading.Event] = []
        self._users: dict[str, dict[str, Any]] = {}
        self._usergroups: dict[str, list[str]] = {}
        self._next_ts_micros = _FIRST_TS_MICROS
        self._next_view = 0
        self._uploads: dict[str, _Upload] = {}
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._responders: dict[str, Callable[[dict[str, Any]], Response]] = {
            "auth.test": self._auth_test,
            "chat.postMessage": self._chat_post_message,
            "chat.update": self._chat_update,
            "chat.postEphemeral": self._chat_post_ephemeral,
            "chat.getPermalink": self._chat_get_permalink,
            "views.open": self._views_open,
            "views.push": self._views_open,
            "views.update": self._views_update,
            "views.publish": self._views_publish,
            "conversations.open": self._conversations_open,
            "users.info": self._users_info,
            "usergroups.users.list": self._usergroups_users_list,
            "files.getUploadURLExternal": self._files_get_upload_url_external,
            "files.completeUploadExternal": self._files_complete_upload_external,
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

    @property
    def running(self) -> bool:
        """Whether it was started and not stopped since."""
        return self._server is not None

    def stop(self) -> None:
        """Stop serving and free the port (no-op when not started)."""
        if self._server is None:
            return
        with self._cond:
            for released in self._released:
                released.set()
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
        return f"http://{LOOPBACK}:{self._server.server_port}/api/"

    # -- configuration -----------------------------------------------------------------------

    def add_user(self, user_id: str, *, name: str | None = None, real_name: str | None = None) -> None:
        """Make ``users.info`` return this name / real name for ``user_id``."""
        with self._cond:
            self._users[user_id] = _user(user_id, name=name, real_name=real_name)

    def add_channel(self, channel_id: str, *, member: bool = True, archived: bool = False) -> None:
        """Make ``channel_id`` exist; ``member``: the bot is in it; ``archived``: it was archived."""
        with self._cond:
            self._channels[channel_id] = _Channel(member=member, archived=archived)

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
        in_thread: bool = False,
    ) -> None:
        """Answer the next ``times`` calls of ``method`` with ``{"ok": false, "error": error}``.

        ``error`` defaults to "ratelimited" for status 429 and "internal_error" otherwise;
        ``retry_after`` adds a ``Retry-After`` header (seconds); ``in_thread``: only thread replies fail.
        """
        if error is None:
            error = "ratelimited" if status == 429 else "internal_error"
        with self._cond:
            self._failures[method] = _Failure(error, status, retry_after, times, in_thread)

    def cut_next(self, method: str, *, times: int = 1) -> None:
        """Carry out the next ``times`` calls of ``method`` but drop the connection in the middle of the answer (its
        headers promise more body than comes: a proxy or the network cutting it; urllib raises
        ``http.client.IncompleteRead``, which the Slack SDK's retry handlers let through). The caller can't know
        whether Slack took the call; this fake did."""
        with self._cond:
            self._cuts[method] = times

    def delay(self, method: str, seconds: float) -> None:
        """Make every call of ``method`` wait ``seconds`` before answering (0 removes the delay)."""
        with self._cond:
            if seconds > 0:
                self._delays[method] = seconds
            else:
                self._delays.pop(method, None)

    def hold(self, method: str, *, times: int | None = None) -> threading.Event:
        """Make calls of ``method`` (only the next ``times``, if given) wait, answered, until the returned event is set
        (``stop`` sets it too): a test proves an answer never waited for such a call by getting it while the call is
        still held, or keeps one bot's call waiting while another's goes through."""
        released = threading.Event()
        with self._cond:
            self._holds[method] = _Hold(released, times)
            self._released.append(released)
        return released

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

    def refused(self) -> list[Call]:
        """Calls Slack's rules refused (not failures injected with ``fail_next``), in arrival order."""
        with self._cond:
            return list(self._refused)

    def clear(self) -> None:
        """Forget recorded calls (injected failures, delays, users and groups are kept)."""
        with self._cond:
            self._calls.clear()
            self._refused.clear()

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

    def shared_files(self) -> list[SharedFile]:
        """Files shared by files.completeUploadExternal, in order, with the bytes that were uploaded."""
        with self._cond:
            return [
                SharedFile(u.file_id, u.filename, u.title, u.data or b"", u.channel, u.thread_ts)
                for u in self._uploads.values()
                if u.completed
            ]

    def _methods_seen(self) -> list[str]:
        return [c.method for c in self._calls]

    # -- serving -----------------------------------------------------------------------------

    def _handle(self, method: str, params: dict[str, Any], token: str | None) -> tuple[int, dict[str, str], Response]:
        """Record a call and decide the answer: (HTTP status, extra headers, JSON body)."""
        for field_name in _JSON_FIELDS:
            if isinstance(params.get(field_name), str):
                with contextlib.suppress(ValueError):  # if not JSON, keep it as sent
                    params[field_name] = json.loads(params[field_name])
        with self._cond:
            pause = self._delays.get(method, 0.0)
            hold = self._holds.get(method)
            held = hold.released if hold is not None else None
            if hold is not None and hold.remaining is not None:
                hold.remaining -= 1
                if hold.remaining <= 0:
                    del self._holds[method]
            cut = self._cuts.get(method, 0) > 0
            if cut:
                self._cuts[method] -= 1
            failure = self._failures.get(method)
            if failure is not None and failure.in_thread and not params.get("thread_ts"):
                failure = None
            if failure is not None:
                failure.remaining -= 1
                if failure.remaining <= 0:
                    del self._failures[method]
        if failure is not None:
            headers = {} if failure.retry_after is None else {"Retry-After": str(failure.retry_after)}
            status, body = failure.status, {"ok": False, "error": failure.error}
        else:
            try:
                status, headers, body = 200, {}, self._answer(method, params, token)
            except _Refused as refused:
                status, headers, body = refused.status, refused.headers, {"ok": False, **refused.body}
        call = Call(method, params, token, time.time(), body)
        with self._cond:
            self._calls.append(call)
            if failure is None and not body.get("ok"):
                self._refused.append(call)
            self._cond.notify_all()
        if pause:
            time.sleep(pause)
        if held is not None:
            held.wait()
        return status, {**headers, CUT_HEADER: "1"} if cut else headers, body

    def _answer(self, method: str, params: dict[str, Any], token: str | None) -> Response:
        """Slack's answer to a call that was not failed on purpose; ``_Refused`` for what Slack refuses."""
        # https://docs.slack.dev/reference/methods/auth.test (errors not_authed, invalid_auth): every method
        # needs a token, and this fake knows only bot tokens (``xoxb-``) or the one it was given.
        if not token:
            raise _Refused("not_authed")
        if token != self.token if self.token else not token.startswith("xoxb-"):
            raise _Refused("invalid_auth")
        responder = self._responders.get(method)
        if responder is None or method not in METHOD_SCOPES:
            raise _Refused("unknown_method")
        needed = METHOD_SCOPES[method]
        if needed is not None and needed not in self.scopes:
            # https://docs.slack.dev/authentication/tokens: missing_scope names what was needed and provided
            raise _Refused("missing_scope", needed=needed, provided=",".join(sorted(self.scopes)))
        return responder(params)

    # -- the rules Slack enforces ------------------------------------------------------------

    def _check_message(self, params: dict[str, Any]) -> None:
        """A chat.* message: text within 40,000 characters, valid blocks, total block text within budget."""
        text = params.get("text")
        if not text and not params.get("blocks") and not params.get("attachments"):
            raise _Refused("no_text")  # https://docs.slack.dev/reference/methods/chat.postMessage
        if isinstance(text, str) and len(text) > block_kit_rules.MESSAGE_TEXT_MAX:
            raise _Refused("msg_too_long")
        problems = block_kit_rules.message_problems(params)
        if problems:
            raise _Refused("invalid_blocks", response_metadata={"messages": problems})
        if block_kit_rules.blocks_text_size(params.get("blocks")) > block_kit_rules.MESSAGE_BLOCKS_TEXT_MAX:
            raise _Refused("msg_blocks_too_long")

    def _check_channel(self, params: dict[str, Any]) -> str:
        """The channel a message goes to: a DM (a user id) always works; a channel must exist, be open and have the bot.

        https://docs.slack.dev/reference/methods/chat.postMessage (errors channel_not_found,
        not_in_channel, is_archived; posting to a user id lands in the app's DM with them).
        """
        channel = _channel_id(str(params.get("channel") or ""))
        if channel.startswith("D"):
            return channel
        with self._cond:
            known = self._channels.get(channel)
        if known is None:
            raise _Refused("channel_not_found")
        if known.archived:
            raise _Refused("is_archived")
        if not known.member:
            raise _Refused("not_in_channel")
        return channel

    def _take_post_token(self, channel: str) -> None:
        """One message's worth of the channel's rate limit, or HTTP 429 with ``Retry-After`` (whole seconds)."""
        now = time.monotonic()
        with self._cond:
            bucket = self._buckets.setdefault(channel, _Bucket(tokens=float(self.post_burst), updated=now))
            bucket.tokens = min(float(self.post_burst), bucket.tokens + (now - bucket.updated) * self.post_rate)
            bucket.updated = now
            if bucket.tokens < 1:
                wait = (1 - bucket.tokens) / self.post_rate
                raise _Refused("ratelimited", status=429, headers={"Retry-After": str(max(1, math.ceil(wait)))})
            bucket.tokens -= 1

    def _exchange_trigger(self, params: dict[str, Any]) -> None:
        """A trigger id is good for one view, within 3 s of the interaction that gave it."""
        trigger_id = str(params.get("trigger_id") or "")
        parts = trigger_id.split(".")
        if len(parts) != 3 or not parts[1].isdigit():
            raise _Refused("invalid_trigger_id")
        if time.time() * 1000 - int(parts[1]) > TRIGGER_TTL_SECONDS * 1000:
            raise _Refused("expired_trigger_id")
        with self._cond:
            if trigger_id in self._triggers_used:
                raise _Refused("exchanged_trigger_id")
            self._triggers_used.add(trigger_id)

    @staticmethod
    def _check_view(params: dict[str, Any]) -> None:
        """https://docs.slack.dev/reference/methods/views.open: a bad view is ``invalid_arguments``."""
        problems = block_kit_rules.view_problems(params.get("view"))
        if problems:
            raise _Refused("invalid_arguments", response_metadata={"messages": problems})

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
        channel = self._check_channel(params)
        self._check_message(params)
        self._take_post_token(channel)
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
        for name in ("blocks", "attachments", "thread_ts"):
            if name in params:
                message[name] = params[name]
        with self._cond:
            self._messages.add((channel, ts))
        return {"ok": True, "channel": channel, "ts": ts, "message": message}

    def _chat_update(self, params: dict[str, Any]) -> Response:
        channel = self._check_channel(params)
        self._check_message(params)
        with self._cond:
            if (channel, params.get("ts")) not in self._messages:
                raise _Refused("message_not_found")  # https://docs.slack.dev/reference/methods/chat.update
        return {
            "ok": True,
            "channel": channel,
            "ts": params.get("ts"),
            "text": params.get("text", ""),
            "message": {"text": params.get("text", ""), "blocks": params.get("blocks", [])},
        }

    def _chat_post_ephemeral(self, params: dict[str, Any]) -> Response:
        self._check_channel(params)
        self._check_message(params)
        return {"ok": True, "message_ts": self._new_ts()}

    def _chat_get_permalink(self, params: dict[str, Any]) -> Response:
        channel = params.get("channel", "")
        ts = str(params.get("message_ts", "")).replace(".", "")
        return {
            "ok": True,
            "channel": channel,
            "permalink": f"{WORKSPACE_URL}archives/{channel}/p{ts}",
        }

    def _views_open(self, params: dict[str, Any]) -> Response:
        self._check_view(params)
        self._exchange_trigger(params)
        return self._view_response(params, self._new_view_id())

    def _views_update(self, params: dict[str, Any]) -> Response:
        """https://docs.slack.dev/reference/methods/views.update: a ``hash`` other than the view's current one is
        ``hash_conflict`` (the view changed meanwhile); an unknown ``view_id`` is ``not_found``."""
        self._check_view(params)
        view_id = str(params.get("view_id") or "")
        with self._cond:
            current = self._view_hashes.get(view_id)
        if current is None:
            raise _Refused("not_found")
        if params.get("hash") and params["hash"] != current:
            raise _Refused("hash_conflict")
        return self._view_response(params, view_id)

    def _views_publish(self, params: dict[str, Any]) -> Response:
        self._check_view(params)
        return self._view_response(params, f"VHOME{params.get('user_id', '')}")

    def _view_response(self, params: dict[str, Any], view_id: str) -> Response:
        submitted = params.get("view")
        view_hash = f"{int(time.time())}.{secrets.token_hex(4)}"
        with self._cond:
            self._view_hashes[view_id] = view_hash
        view = {
            "team_id": TEAM_ID,
            "app_id": APP_ID,
            "bot_id": BOT_ID,
            "state": {"values": {}},
            "root_view_id": view_id,
            "previous_view_id": None,
            **(submitted if isinstance(submitted, dict) else {}),
            "id": view_id,
            "hash": view_hash,
        }
        return {"ok": True, "view": view}

    def close_view(self, view_id: str) -> None:
        """The user closes a view: Slack forgets it, and ``views.update`` of it is ``not_found``."""
        with self._cond:
            self._view_hashes.pop(view_id, None)

    def view_hash(self, view_id: str) -> str | None:
        """The current hash of a view this fake handed out (what Slack sends in the next interaction)."""
        with self._cond:
            return self._view_hashes.get(view_id)

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

    # -- file uploads ------------------------------------------------------------------------
    # files_upload_v2 (slack_sdk) = files.getUploadURLExternal, a POST of the bytes to the upload URL,
    # files.completeUploadExternal. Arguments and errors as documented at
    # https://docs.slack.dev/reference/methods/files.getUploadURLExternal and
    # https://docs.slack.dev/reference/methods/files.completeUploadExternal ("can only be called once";
    # thread_ts needs the one channel). Slack documents only that a non-200 answer to the upload is a
    # failure; the fake refuses bytes that differ from the announced length, and a completion of a file
    # whose bytes never arrived (file_not_found).

    def _files_get_upload_url_external(self, params: dict[str, Any]) -> Response:
        filename = params.get("filename")
        if not isinstance(filename, str) or not filename:
            raise _Refused("invalid_arguments")
        try:
            length = int(params.get("length", 0))
        except (TypeError, ValueError):
            raise _Refused("invalid_arguments") from None
        if length <= 0:
            raise _Refused("missing_argument")  # "Typically only occurs when the length provided is 0."
        if len(str(params.get("alt_txt") or "")) > 1000:
            raise _Refused("alt_txt_too_large")
        with self._cond:
            file_id = f"F{len(self._uploads) + 1:010d}"
            self._uploads[file_id] = _Upload(file_id, filename, length)
        upload_url = self.url.removesuffix("api/") + f"upload/v1/{file_id}"
        return {"ok": True, "upload_url": upload_url, "file_id": file_id}

    def _receive_upload(self, file_id: str, data: bytes) -> tuple[int, str]:
        """The upload URL's answer: (HTTP status, body)."""
        with self._cond:
            upload = self._uploads.get(file_id)
            if upload is None or upload.completed:
                return 404, "not found"
            if len(data) != upload.length:
                return 400, f"length mismatch: announced {upload.length}, received {len(data)}"
            upload.data = data
            self._cond.notify_all()
        return 200, f"OK - {len(data)}"

    def _files_complete_upload_external(self, params: dict[str, Any]) -> Response:
        files = params.get("files")
        if isinstance(files, str):
            try:
                files = json.loads(files)
            except ValueError:
                raise _Refused("invalid_arguments") from None
        if not isinstance(files, list) or not files or not all(isinstance(f, dict) and f.get("id") for f in files):
            raise _Refused("invalid_arguments")
        channel = params.get("channel_id") or None
        thread_ts = params.get("thread_ts") or None
        if thread_ts and (not channel or params.get("channels")):
            raise _Refused("invalid_arguments")  # a reply goes to exactly one channel, named by channel_id
        if channel is not None:
            channel = self._check_channel({"channel": channel})  # channel_not_found, not_in_channel, is_archived
        with self._cond:
            uploads = [self._uploads.get(str(f["id"])) for f in files]
            if any(u is None or u.completed or u.data is None for u in uploads):
                raise _Refused("file_not_found")
            shared = []
            for upload, given in zip(uploads, files, strict=True):
                assert upload is not None
                upload.completed = True
                upload.title = str(given.get("title") or upload.filename)
                upload.channel, upload.thread_ts = channel, thread_ts
                shared.append({"id": upload.file_id, "title": upload.title})
            self._cond.notify_all()
        return {"ok": True, "files": shared}


@dataclass(frozen=True)
class SharedFile:
    """A file shared through files.completeUploadExternal."""

    file_id: str
    filename: str
    title: str
    content: bytes
    channel: str | None
    thread_ts: str | None


@dataclass
class _Upload:
    file_id: str
    filename: str
    length: int
    data: bytes | None = None
    completed: bool = False
    title: str = ""
    channel: str | None = None
    thread_ts: str | None = None


class _Refused(Exception):
    """Slack refuses a call: ``{"ok": false, "error": error, **extra}`` with an HTTP status and headers."""

    def __init__(self, error: str, *, status: int = 200, headers: dict[str, str] | None = None, **extra: Any) -> None:
        super().__init__(error)
        self.status = status
        self.headers = headers or {}
        self.body: dict[str, Any] = {"error": error, **extra}


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
        super().__init__((LOOPBACK, 0), _Handler)
        self.fake = fake


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_POST(self) -> None:
        url = urlsplit(self.path)
        if url.path.startswith("/upload/v1/"):
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            status, text = self.server.fake._receive_upload(url.path.removeprefix("/upload/v1/"), raw)
            self._reply_text(status, text)
            return
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
        cut = headers.pop(CUT_HEADER, None) is not None
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(body) * 2 if cut else len(body)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)
        if cut:
            self.close_connection = True

    def _reply_text(self, status: int, text: str) -> None:
        body = text.encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        """Stay quiet: no request log on stderr."""
