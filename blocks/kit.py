"""Block Kit building blocks and mrkdwn helpers shared by every surface.

User-supplied text goes through ``escape`` (or ``fit``/``code_block``/``quote``, which escape) so
that ``<!channel>`` or ``<@U…>`` typed by someone is shown, never acted on.
"""

import datetime
import itertools
from collections.abc import Callable, Iterable
from typing import Any

SECTION_TEXT_MAX = 3000
FIELD_TEXT_MAX = 2000
HEADER_MAX = 150
BUTTON_TEXT_MAX = 75
OPTION_TEXT_MAX = 75
OPTION_VALUE_MAX = 150
MODAL_TITLE_MAX = 24
MESSAGE_TEXT_MAX = 40000
MESSAGE_BLOCKS_MAX = 50
VIEW_BLOCKS_MAX = 100
PLACEHOLDER_MAX = 150
TEXT_INPUT_MAX = 3000
STATIC_OPTIONS_MAX = 100
ELLIPSIS = "…"
ZERO_WIDTH_SPACE = "\u200b"
ESCAPED_SIZE = {"&": len("&amp;"), "<": len("&lt;"), ">": len("&gt;")}

Block = dict[str, Any]
Rendered = tuple[str, list[Block]]
"""A message: the notification fallback text and its blocks."""


def escape(text: str) -> str:
    """Make user text safe for mrkdwn: ``&``, ``<`` and ``>`` become entities (no pings, no links)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def truncate(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters with an ellipsis (for plain_text, which is not escaped)."""
    return text if len(text) <= limit else text[: limit - 1] + ELLIPSIS


def cut(raw: str, budget: int) -> tuple[str, int]:
    """The escaped prefix of ``raw`` that fits in ``budget`` characters, and how many raw characters are left.

    Sizes are counted after escaping, and an entity is never split.
    """
    escaped = escape(raw)
    if len(escaped) <= budget:
        return escaped, 0
    sizes = itertools.accumulate(ESCAPED_SIZE.get(char, 1) for char in raw)
    index = next(index for index, used in enumerate(sizes) if used > budget)
    return escape(raw[:index]), len(raw) - index


def truncation_note(remaining: int) -> str:
    return f"{ELLIPSIS} (truncated, {remaining:,} more characters)"


def shorten(raw: str, budget: int, extra: int = 0) -> tuple[str, int]:
    """Like ``cut``, but when ``raw`` doesn't fit, leaves room for a truncation note plus ``extra`` characters."""
    escaped, remaining = cut(raw, budget)
    if remaining:
        escaped, remaining = cut(raw, budget - extra - len(truncation_note(len(raw))))
    return escaped, remaining


def fit(raw: str, budget: int) -> str:
    """``raw`` escaped, cut with a truncation note if its escaped form is over ``budget``."""
    escaped, remaining = shorten(raw, budget)
    return escaped + (truncation_note(remaining) if remaining else "")


def code_block(raw: str, budget: int) -> str:
    """``raw`` as an escaped code block of at most ``budget`` characters, noting any truncation below it."""
    fence = "```"
    raw = raw.replace(fence, f"`{ZERO_WIDTH_SPACE}`{ZERO_WIDTH_SPACE}`")
    escaped, remaining = shorten(raw, budget - 2 * len(fence), extra=len("\n__"))
    return f"{fence}{escaped}{fence}" + (f"\n_{truncation_note(remaining)}_" if remaining else "")


def quote(raw: str, budget: int) -> str:
    """``raw`` as an escaped mrkdwn block quote of at most ``budget`` characters."""
    lines = [line.rstrip() for line in raw.strip().splitlines()] or [""]
    if 2 * len(lines) > budget // 4:
        lines = [" ".join(line for line in lines if line)]
    body = fit("\n".join(lines), budget - 2 * len(lines))
    return "\n".join(f"> {line}" for line in body.split("\n"))


def and_more(n: int) -> str:
    return f"_{ELLIPSIS}and {n} more_"


def take_lines(lines: list[str], budget: int, more: Callable[[int], str] = and_more) -> str:
    """As many whole (already escaped) ``lines`` as fit in ``budget``, then ``more(n)`` for the n left out."""
    kept: list[str] = []
    used = 0
    for index, line in enumerate(lines):
        left = len(lines) - index - 1
        reserve = len("\n" + more(left + 1)) if left else 0
        if used + len(line) + 1 + reserve > budget:
            return "\n".join([*kept, more(len(lines) - index)])
        kept.append(line)
        used += len(line) + 1
    return "\n".join(kept)


def plain(text: str, limit: int | None = None) -> dict[str, Any]:
    """A plain_text object (emoji shortcodes rendered), cut to ``limit`` when given."""
    return {"type": "plain_text", "text": truncate(text, limit) if limit else text, "emoji": True}


def mrkdwn(text: str) -> dict[str, Any]:
    return {"type": "mrkdwn", "text": text}


def section(text: str, *, accessory: Block | None = None) -> Block:
    """A section of mrkdwn ``text`` (already escaped where it holds user text)."""
    block: Block = {"type": "section", "text": mrkdwn(text)}
    if accessory:
        block["accessory"] = accessory
    return block


def fields_section(pairs: Iterable[tuple[str, str]]) -> Block:
    """A two-column section: ``*label*`` over an (escaped) value, at most 10 pairs."""
    return {
        "type": "section",
        "fields": [mrkdwn(f"*{label}*\n{value}") for label, value in list(pairs)[:10]],
    }


def header(text: str) -> Block:
    return {"type": "header", "text": plain(text, HEADER_MAX)}


def context(*texts: str) -> Block:
    """A context line of up to 10 mrkdwn elements."""
    return {"type": "context", "elements": [mrkdwn(text) for text in texts[:10]]}


def divider() -> Block:
    return {"type": "divider"}


def actions(*elements: Block) -> Block:
    return {"type": "actions", "elements": list(elements)}


def confirm_dialog(title: str, text: str, confirm: str, deny: str = "Back") -> dict[str, Any]:
    return {
        "title": plain(title, 100),
        "text": plain(text, 300),
        "confirm": plain(confirm, 30),
        "deny": plain(deny, 30),
    }


def button(
    text: str,
    action_id: str,
    value: str,
    *,
    style: str | None = None,
    confirm: dict[str, Any] | None = None,
) -> Block:
    """A button; ``style`` is ``primary`` or ``danger``."""
    element: Block = {"type": "button", "text": plain(text, BUTTON_TEXT_MAX), "action_id": action_id, "value": value}
    if style:
        element["style"] = style
    if confirm:
        element["confirm"] = confirm
    return element


def option(text: str, value: str, description: str | None = None) -> dict[str, Any]:
    """A select/checkbox option; the text is cut to Slack's 75 characters, the value never is."""
    result: dict[str, Any] = {"text": plain(text, OPTION_TEXT_MAX), "value": value}
    if description:
        result["description"] = plain(description, OPTION_TEXT_MAX)
    return result


def mention(user_id: str) -> str:
    """``<@U…>``: a user mention (the id is escaped, so a malformed one can't become a broadcast)."""
    return f"<@{escape(user_id)}>"


def mentions(user_ids: Iterable[str], limit: int = 20) -> str:
    """Space-separated mentions, at most ``limit`` of them and then "and N more"."""
    ids = list(user_ids)
    shown = " ".join(mention(user_id) for user_id in ids[:limit])
    return shown + (f" and {len(ids) - limit} more" if len(ids) > limit else "")


def link(url: str, text: str) -> str:
    """A mrkdwn link; ``&<>`` are escaped in both parts and ``|`` in the URL is percent-encoded."""
    return f"<{escape(url).replace('|', '%7C')}|{escape(text)}>"


def date(timestamp: float, tokens: str) -> str:
    """A date Slack shows in each reader's time zone (``{ago}``, ``{date_short_pretty}``, …), UTC fallback."""
    fallback = datetime.datetime.fromtimestamp(timestamp, datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    return f"<!date^{int(timestamp)}^{tokens}|{fallback}>"


def fallback_text(text: str) -> str:
    """A message's notification text, cut to Slack's limit (kept short by callers anyway)."""
    return truncate(text, MESSAGE_TEXT_MAX)
