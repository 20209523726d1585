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
MESSAGE_TEXT_BUDGET = 11_000
"""Characters of text in all of one message's blocks together. Only per-field limits are
documented, but Slack refuses a message whose blocks hold more than about 13,000 characters
(``msg_blocks_too_long``: https://github.com/slackapi/bolt-js/issues/2509, #2867); this stays clear."""
ELLIPSIS = "…"
ZERO_WIDTH_SPACE = "\u200b"
FENCE = "```"
ESCAPED_SIZE = {"&": len("&amp;"), "<": len("&lt;"), ">": len("&gt;")}

Block = dict[str, Any]
Rendered = tuple[str, list[Block]]
"""A message: the notification fallback text and its blocks."""
Note = Callable[[int], str]
"""What replaces the cut end of a text, given how many characters were left out."""


def escape(text: str) -> str:
    """Make user text safe for mrkdwn: ``&``, ``<`` and ``>`` become entities (no pings, no links).

    The only escaping Slack asks for: these three are its control characters, and only these three
    entities are decoded for display ("Formatting text for app surfaces", Escaping:
    https://api.slack.com/reference/surfaces/formatting#escaping). The one escape of ``blocks/``.
    """
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


def in_thread_note(remaining: int) -> str:
    """For a message whose full texts follow in its thread (the approval message)."""
    return f"{ELLIPSIS} ({remaining:,} more characters; full text in the thread)"


def shorten(raw: str, budget: int, extra: int = 0, note: Note = truncation_note) -> tuple[str, int]:
    """Like ``cut``, but when ``raw`` doesn't fit, leaves room for ``note`` plus ``extra`` characters."""
    escaped, remaining = cut(raw, budget)
    if remaining:
        escaped, remaining = cut(raw, max(0, budget - extra - len(note(len(raw)))))
    return escaped, remaining


def fit(raw: str, budget: int, note: Note = truncation_note) -> str:
    """``raw`` escaped, cut with ``note`` if its escaped form is over ``budget``."""
    escaped, remaining = shorten(raw, budget, note=note)
    return escaped + (note(remaining) if remaining else "")


def escaped_pieces(raw: str, size: int) -> list[str]:
    """``raw`` escaped, in consecutive pieces of at most ``size`` characters (an entity is never split)."""
    pieces = []
    while raw:
        piece, remaining = cut(raw, size)
        pieces.append(piece)
        raw = raw[len(raw) - remaining :] if remaining else ""
    return pieces


def unfenced(raw: str) -> str:
    """``raw`` with any ````` broken up (zero-width spaces), so it can't close the code block it is shown in."""
    return raw.replace(FENCE, f"`{ZERO_WIDTH_SPACE}`{ZERO_WIDTH_SPACE}`")


def fenced(escaped: str) -> str:
    """Escaped, unfenced text in a code block (```` ```text``` ````: https://api.slack.com/reference/surfaces/formatting).
    A backtick next to a fence would make a run of four or five, which Slack's formatting rules don't define
    (the block may end early or a fence show as text), so a zero-width space keeps them apart."""
    start = ZERO_WIDTH_SPACE if escaped.startswith("`") else ""
    end = ZERO_WIDTH_SPACE if escaped.endswith("`") else ""
    return f"{FENCE}{start}{escaped}{end}{FENCE}"


def code_block(raw: str, budget: int, note: Note = truncation_note) -> str:
    """``raw`` as an escaped code block of at most ``budget`` characters, noting any truncation below it."""
    raw = unfenced(raw)
    for spacers in (0, 2):  # ``fenced`` may add two zero-width spaces
        escaped, remaining = shorten(raw, budget - 2 * len(FENCE) - spacers, extra=len("\n__"), note=note)
        block = fenced(escaped) + (f"\n_{note(remaining)}_" if remaining else "")
        if len(block) <= budget:
            break
    return block


def quote(raw: str, budget: int, note: Note = truncation_note) -> str:
    """``raw`` as an escaped mrkdwn block quote of at most ``budget`` characters."""
    lines = [line.rstrip() for line in raw.strip().splitlines()] or [""]
    if 2 * len(lines) > budget // 4:
        lines = [" ".join(line for line in lines if line)]
    body = fit("\n".join(lines), budget - 2 * len(lines), note)
    return "\n".join(f"> {line}" for line in body.split("\n"))


def text_size(blocks: Any) -> int:
    """Characters of text in ``blocks``: every text object's ``text``, anywhere (what Slack's total counts)."""
    if isinstance(blocks, list):
        return sum(text_size(item) for item in blocks)
    if isinstance(blocks, dict):
        own = len(blocks["text"]) if blocks.get("type") in ("plain_text", "mrkdwn") else 0
        return own + sum(text_size(value) for value in blocks.values() if isinstance(value, (dict, list)))
    return 0


def share(budget: int, wants: list[int]) -> list[int]:
    """``budget`` split among ``wants``: whoever wants less than an equal share gets it all, the rest split evenly."""
    given = [0] * len(wants)
    left = max(0, budget)
    order = sorted(range(len(wants)), key=lambda index: wants[index])
    for rank, index in enumerate(order):
        given[index] = min(wants[index], left // (len(wants) - rank))
        left -= given[index]
    return given


def and_more(n: int) -> str:
    return f"_{ELLIPSIS}and {n} more_"


def take_lines(lines: list[str], budget: int, more: Callable[[int], str] = and_more) -> str:
    """As many whole (already escaped) ``lines`` as fit in ``budget``, then ``more(n)`` for the n left out."""
    if len("\n".join(lines)) <= budget:
        return "\n".join(lines)
    kept: list[str] = []
    used = 0
    for index, line in enumerate(lines):
        left = len(lines) - index - 1
        reserve = len("\n" + more(left + 1)) if left else 0
        needed = used + (1 if kept else 0) + len(line)  # a newline between lines, none after the last
        if needed + reserve > budget:
            return "\n".join([*kept, more(len(lines) - index)])
        kept.append(line)
        used = needed
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
