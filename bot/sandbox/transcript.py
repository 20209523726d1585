"""Renders what the bot said in Slack (the fake Slack's recorded calls) as readable text."""

import json
import re
import textwrap
from collections.abc import Iterable, Mapping
from typing import Any

from bot.sandbox.fake_slack import Call


def plain(text: str, names: Mapping[str, str]) -> str:
    """Slack mrkdwn to plain text: user mentions by name, links by label."""
    text = re.sub(r"<@(\w+)>", lambda m: "@" + names.get(m.group(1), m.group(1)), text)
    text = re.sub(r"<([^|>]+)\|([^>]+)>", r"\2 (\1)", text)
    text = re.sub(r"<(https?://[^>]+)>", r"\1", text)
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def text_of(obj: Any) -> str:
    if isinstance(obj, dict):
        return str(obj.get("text", ""))
    return str(obj or "")


def block_lines(block: dict[str, Any], names: Mapping[str, str]) -> Iterable[str]:
    kind = block.get("type")
    if kind == "header":
        yield "== " + plain(text_of(block.get("text")), names) + " =="
    elif kind == "section":
        if block.get("text"):
            yield plain(text_of(block["text"]), names)
        for field in block.get("fields", []):
            yield plain(text_of(field), names)
    elif kind == "context":
        yield "  " + " ".join(plain(text_of(e), names) for e in block.get("elements", []) if "text" in e)
    elif kind == "actions":
        yield "  " + "  ".join(f"[{text_of(e.get('text'))}]" for e in block.get("elements", []))
    elif kind == "input":
        optional = " (optional)" if block.get("optional") else ""
        yield f"  ▢ {text_of(block.get('label'))}{optional}"
    elif kind == "rich_text":
        yield "(rich text)"


def blocks_text(blocks: list[dict[str, Any]] | None, fallback: str, names: Mapping[str, str]) -> str:
    lines = [line for block in blocks or [] for line in block_lines(block, names)]
    return "\n".join(lines) if lines else plain(fallback, names)


def where(call: Call, names: Mapping[str, str], channels: Mapping[str, str]) -> str:
    channel = str(call.params.get("channel") or call.params.get("user_id") or "")
    place = channels.get(channel) or (f"DM to @{names.get(channel, channel)}" if channel[:1] in "UWD" else channel)
    if call.params.get("thread_ts"):
        place += " › thread"
    return place


class Transcript:
    """Turns recorded Web API calls into what people saw; an updated message shows only what changed."""

    def __init__(self, names: Mapping[str, str], channels: Mapping[str, str]) -> None:
        self.names = names
        self.channels = channels
        self.messages: dict[str, list[str]] = {}

    def message(self, call: Call, title: str) -> str:
        text = blocks_text(call.params.get("blocks"), call.params.get("text", ""), self.names)
        lines = text.splitlines()
        key = lines[0] if lines else ""
        previous = self.messages.get(key)
        self.messages[key] = lines
        if call.method == "chat.update" and previous is not None:
            changed = [line for line in lines[1:] if line not in previous]
            return f"[{title} — {key.strip('= ')} now shows]\n" + "\n".join(changed or ["(no visible change)"])
        return f"[{title}]\n{text}"

    def describe(self, call: Call) -> str | None:
        """One recorded Web API call as a person would see it; None for calls nobody sees."""
        params, names = call.params, self.names
        if call.method in ("chat.postMessage", "chat.update"):
            return self.message(call, where(call, names, self.channels))
        if call.method == "chat.postEphemeral":
            user = names.get(params.get("user", ""), params.get("user"))
            channel = self.channels.get(params.get("channel", ""), params.get("channel"))
            return f"[only @{user} sees, in {channel}]\n" + blocks_text(
                params.get("blocks"), params.get("text", ""), names
            )
        if call.method in ("views.open", "views.update", "views.push"):
            view = params.get("view") or {}
            verb = "modal opens" if call.method != "views.update" else "modal changes"
            return f"[{verb}: {text_of(view.get('title'))}]\n" + blocks_text(view.get("blocks"), "", names)
        if call.method == "files.completeUploadExternal":
            return self.files(call)
        if call.method == "views.publish":
            user = names.get(params.get("user_id", ""), params.get("user_id"))
            return f"[App Home of @{user}]\n" + blocks_text((params.get("view") or {}).get("blocks"), "", names)
        return None

    def files(self, call: Call) -> str:
        """Files shared into a conversation: their titles, under the comment that introduces them."""
        params = call.params
        files = params.get("files")
        files = json.loads(files) if isinstance(files, str) else files or []
        channel = str(params.get("channel_id") or "")
        place = self.channels.get(channel, channel) + (" › thread" if params.get("thread_ts") else "")
        titles = ", ".join(str(f.get("title") or f.get("id")) for f in files if isinstance(f, dict))
        return f"[{place}]\n{plain(str(params.get('initial_comment') or ''), self.names)}\n📎 {titles}"

    def render(self, calls: Iterable[Call]) -> str:
        parts = [self.describe(call) for call in calls]
        return "\n\n".join(textwrap.indent(p, "    ") for p in parts if p)
