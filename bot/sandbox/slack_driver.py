"""Plays Slack's part towards the bot: signed HTTP requests exactly as Slack sends them.

Slash commands are form-encoded, interactivity is form-encoded ``payload=<json>``, events are JSON;
each request carries ``X-Slack-Request-Timestamp`` and ``X-Slack-Signature``
(``v0=`` + HMAC-SHA256 of ``v0:{timestamp}:{body}`` with the signing secret). Used by the
end-to-end tests, the demo and the benchmarks.
"""

import hashlib
import hmac
import itertools
import json
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import Any

from bot.sandbox.fake_slack import new_trigger_id

TEAM = {"id": "T0001", "domain": "sandbox"}


@dataclass(frozen=True)
class Reply:
    """The bot's HTTP answer."""

    status: int
    body: str

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


def signature(secret: str, timestamp: str, body: str) -> str:
    base = f"v0:{timestamp}:{body}".encode()
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


def element_state(element: dict[str, Any], answer: Any) -> dict[str, Any]:
    """The ``state.values`` entry Slack sends for one input element holding ``answer``."""
    kind = element["type"]
    if kind in ("plain_text_input", "number_input", "email_text_input", "url_text_input"):
        value = None if answer is None else str(answer)
        if kind == "plain_text_input" and value:
            check_length(element, value)
        return {"type": kind, "value": value}
    options = {o["value"]: o for o in element.get("options", [])}
    for group in element.get("option_groups", []):
        options.update({o["value"]: o for o in group["options"]})

    def option(value: Any) -> dict[str, Any]:
        value = str(value)
        return options.get(value) or {"text": {"type": "plain_text", "text": value[:75]}, "value": value}

    if kind in ("static_select", "external_select", "radio_buttons"):
        return {"type": kind, "selected_option": None if answer is None else option(answer)}
    if kind in ("multi_static_select", "multi_external_select", "checkboxes"):
        if answer is True:
            answer = [next(iter(options))]
        values = [] if answer in (None, False) else list(answer)
        return {"type": kind, "selected_options": [option(v) for v in values]}
    raise ValueError(f"the driver can't fill a {kind} element")


class InputRefused(ValueError):
    """Slack's client would not let the person submit this value (e.g. longer than the input's ``max_length``)."""


def check_length(element: dict[str, Any], value: str) -> None:
    """A plain_text_input holds at most ``max_length`` (and, filled in, at least ``min_length``) characters.

    https://docs.slack.dev/reference/block-kit/block-elements/plain-text-input-element: "If the user
    provides more, they will receive an error" — the client refuses to submit, so the bot never sees it.
    """
    longest, shortest = element.get("max_length"), element.get("min_length")
    if longest is not None and len(value) > longest:
        raise InputRefused(f"{element.get('action_id')}: {len(value)} characters, the input takes at most {longest}")
    if shortest is not None and len(value) < shortest:
        raise InputRefused(f"{element.get('action_id')}: {len(value)} characters, the input needs at least {shortest}")


def initial_answer(element: dict[str, Any]) -> Any:
    """What an input holds when the person leaves it as the bot opened it."""
    if "initial_option" in element:
        return element["initial_option"]["value"]
    if "initial_options" in element:
        return [option["value"] for option in element["initial_options"]]
    return element.get("initial_value")


def view_state(view: dict[str, Any], answers: dict[str, Any]) -> dict[str, Any]:
    """Slack's ``view.state`` for a modal whose inputs hold ``answers`` (by block id), else their initial values."""
    values: dict[str, Any] = {}
    for block in view.get("blocks", []):
        if block.get("type") != "input":
            continue
        element = block["element"]
        answer = answers[block["block_id"]] if block["block_id"] in answers else initial_answer(element)
        values[block["block_id"]] = {element["action_id"]: element_state(element, answer)}
    return {"values": values}


class SlackDriver:
    """Sends what Slack would send to the bot's request URL, signed with ``signing_secret``."""

    def __init__(self, url: str, signing_secret: str) -> None:
        self.url = url
        self.signing_secret = signing_secret
        self.counter = itertools.count(1)

    def post(
        self,
        body: str,
        content_type: str,
        *,
        timestamp: int | None = None,
        secret: str | None = None,
        retry: int = 0,
    ) -> Reply:
        """POST a body, signed (with another secret or an old timestamp to test refusals); ``retry``: Slack's
        ``X-Slack-Retry-Num`` on a delivery it sends again."""
        stamp = str(int(time.time()) if timestamp is None else timestamp)
        headers = {
            "Content-Type": content_type,
            "X-Slack-Request-Timestamp": stamp,
            "X-Slack-Signature": signature(secret or self.signing_secret, stamp, body),
        }
        if retry:
            headers |= {"X-Slack-Retry-Num": str(retry), "X-Slack-Retry-Reason": "http_timeout"}
        request = urllib.request.Request(self.url, data=body.encode(), headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return Reply(response.status, response.read().decode())
        except urllib.error.HTTPError as error:
            return Reply(error.code, error.read().decode())

    def trigger_id(self) -> str:
        return new_trigger_id()

    def command(
        self, user_id: str, text: str = "", *, command: str = "/iam-role", channel_id: str = "C0GENERAL", **kwargs: Any
    ) -> Reply:
        form = {
            "token": "unused",
            "team_id": TEAM["id"],
            "team_domain": TEAM["domain"],
            "channel_id": channel_id,
            "channel_name": "general",
            "user_id": user_id,
            "user_name": user_id.lower(),
            "command": command,
            "text": text,
            "api_app_id": "A0SANDBOX",
            "response_url": "https://hooks.slack.invalid/commands/1",
            "trigger_id": self.trigger_id(),
        }
        return self.post(urllib.parse.urlencode(form), "application/x-www-form-urlencoded", **kwargs)

    def interact(self, payload: dict[str, Any], **kwargs: Any) -> Reply:
        body = urllib.parse.urlencode({"payload": json.dumps(payload)})
        return self.post(body, "application/x-www-form-urlencoded", **kwargs)

    def base_payload(self, kind: str, user_id: str) -> dict[str, Any]:
        return {
            "type": kind,
            "team": TEAM,
            "user": {"id": user_id, "username": user_id.lower(), "team_id": TEAM["id"]},
            "api_app_id": "A0SANDBOX",
            "token": "unused",
            "trigger_id": self.trigger_id(),
        }

    def click(
        self,
        user_id: str,
        action_id: str,
        value: str | None = None,
        *,
        message: dict[str, Any] | None = None,
        channel: str | None = None,
        view: dict[str, Any] | None = None,
        selected_option: str | None = None,
    ) -> Reply:
        """A button press (or select choice) in a message, modal or App Home."""
        action: dict[str, Any] = {"action_id": action_id, "block_id": action_id, "action_ts": str(time.time())}
        if selected_option is not None:
            action.update(
                type="static_select",
                selected_option={"text": {"type": "plain_text", "text": selected_option}, "value": selected_option},
            )
        else:
            action.update(type="button", value=value, text={"type": "plain_text", "text": action_id})
        payload = self.base_payload("block_actions", user_id) | {"actions": [action]}
        if message is not None:
            payload |= {
                "container": {"type": "message", "message_ts": message.get("ts"), "channel_id": channel},
                "message": message,
                "channel": {"id": channel},
                "response_url": "https://hooks.slack.invalid/1",
            }
        if view is not None:
            payload |= {"container": {"type": "view", "view_id": view.get("id")}, "view": view}
        return self.interact(payload)

    def submit(self, user_id: str, view: dict[str, Any], answers: dict[str, Any], **kwargs: Any) -> Reply:
        """Press a modal's submit button with its inputs holding ``answers`` (keyed by block id).

        Raises ``InputRefused`` for an answer Slack's client would not submit.
        """
        submitted = view | {
            "id": view.get("id", "V0SUBMIT"),
            "state": view_state(view, answers),
            "hash": view.get("hash", "h"),
            "private_metadata": view.get("private_metadata", ""),
        }
        payload = self.base_payload("view_submission", user_id) | {"view": submitted}
        return self.interact(payload, **kwargs)

    def options(
        self,
        user_id: str,
        action_id: str,
        value: str,
        *,
        view: dict[str, Any] | None = None,
        answers: dict[str, Any] | None = None,
    ) -> Reply:
        """An options load for an external select, typed ``value``, in a modal holding ``answers``."""
        payload = self.base_payload("block_suggestion", user_id) | {
            "action_id": action_id,
            "block_id": action_id,
            "value": value,
            "container": {"type": "view", "view_id": "V0SUGGEST"},
        }
        if view is not None:
            payload["view"] = view | {"state": view_state(view, answers or {})}
        return self.interact(payload)

    def event(self, event: dict[str, Any], *, event_id: str | None = None, **kwargs: Any) -> Reply:
        """An Events API delivery; pass an earlier ``event_id`` (and ``retry=``) to send it again as Slack does."""
        body = json.dumps(
            {
                "token": "unused",
                "team_id": TEAM["id"],
                "api_app_id": "A0SANDBOX",
                "type": "event_callback",
                "event_id": event_id or f"Ev{next(self.counter):08d}",
                "event_time": int(time.time()),
                "event": event,
            }
        )
        return self.post(body, "application/json", **kwargs)
