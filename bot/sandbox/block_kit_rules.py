"""Block Kit's rules as Slack enforces them, for the fake Slack to refuse what Slack refuses.

Written apart from ``blocks/limits.py`` on purpose: the fake checks the bot's output, so it must
not share the bot's own idea of the limits (a mistake there would pass both). Each rule names the
Slack page it comes from. Problems are reported as Slack does, with a JSON pointer, e.g.
``[ERROR] must be at most 3000 characters [json-pointer:/blocks/2/text/text]``.
"""

import json
from typing import Any

DOCS = "https://docs.slack.dev/reference/block-kit"

MESSAGE_BLOCKS_MAX = 50  # https://docs.slack.dev/reference/block-kit/blocks ("up to 50 blocks in each message")
VIEW_BLOCKS_MAX = 100  # https://docs.slack.dev/reference/views ("up to 100 blocks in modals or Home tabs")
MESSAGE_TEXT_MAX = 40_000  # https://docs.slack.dev/reference/methods/chat.postMessage (text: msg_too_long)
MESSAGE_BLOCKS_TEXT_MAX = 11_000
"""Total characters of text in a message's blocks. Undocumented: Slack answers ``msg_blocks_too_long``
from about 13,200 characters (13,172 with a divider), per https://github.com/slackapi/bolt-js/issues/2509
and https://github.com/slackapi/bolt-js/issues/2867; 11,000 stays clear of where it moves."""
VIEW_BYTES_MAX = 250_000  # https://docs.slack.dev/reference/views ("view ... less than 250 kB")
PRIVATE_METADATA_MAX = 3000  # https://docs.slack.dev/reference/views (private_metadata)
MODAL_TEXT_MAX = 24  # https://docs.slack.dev/reference/views (title, submit, close: 24 characters)
ID_MAX = 255  # block_id, action_id, callback_id, external_id: every block and element page
TEXT_INPUT_MAX = 3000  # {DOCS}/block-elements/plain-text-input-element (min/max_length 0..3000)

BLOCK_RULES: dict[str, dict[str, int]] = {
    # {DOCS}/blocks/section-block: text 3000, fields 10 × 2000
    "section": {"text": 3000, "fields": 10, "field": 2000},
    # {DOCS}/blocks/header-block: text 150
    "header": {"text": 150},
    # {DOCS}/blocks/context-block: 10 elements
    "context": {"elements": 10},
    # {DOCS}/blocks/actions-block: 25 elements
    "actions": {"elements": 25},
    # {DOCS}/blocks/input-block: label 2000, hint 2000
    "input": {"label": 2000, "hint": 2000},
    "divider": {},
}
ELEMENT_RULES: dict[str, dict[str, int]] = {
    # {DOCS}/block-elements/button-element: text 75, value 2000, url 3000
    "button": {"text": 75, "value": 2000, "url": 3000},
    # {DOCS}/block-elements/select-menu-element: placeholder 150, options 100, option_groups 100
    "static_select": {"options": 100, "option_groups": 100},
    "multi_static_select": {"options": 100, "option_groups": 100},
    "external_select": {},
    "multi_external_select": {},
    # {DOCS}/block-elements/checkboxes-element, .../radio-button-group-element: 10 options
    "checkboxes": {"options": 10},
    "radio_buttons": {"options": 10},
    "plain_text_input": {},
    "number_input": {},
}
OPTION_TEXT_MAX = 75  # {DOCS}/composition-objects/option-object: text 75, value 150, description 75
OPTION_VALUE_MAX = 150
PLACEHOLDER_MAX = 150  # every input element page: placeholder 150
# {DOCS}/composition-objects/confirmation-dialog-object
CONFIRM_RULES = {"title": 100, "text": 300, "confirm": 30, "deny": 30}


class Problems:
    """Slack-style problem lines, collected while walking one payload."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def add(self, pointer: str, message: str) -> None:
        self.lines.append(f"[ERROR] {message} [json-pointer:{pointer}]")

    def at_most(self, pointer: str, value: Any, limit: int) -> None:
        if isinstance(value, str) and len(value) > limit:
            self.add(pointer, f"must be at most {limit} characters")
        elif isinstance(value, list) and len(value) > limit:
            self.add(pointer, f"must have at most {limit} items")

    def text(self, pointer: str, obj: Any, limit: int, *, required: bool = True) -> None:
        """A text object: ``{"type": "plain_text"|"mrkdwn", "text": "…"}``, non-empty, within ``limit``."""
        if obj is None and not required:
            return
        if not isinstance(obj, dict) or obj.get("type") not in ("plain_text", "mrkdwn"):
            self.add(pointer, "must be a text object")
        elif not isinstance(obj.get("text"), str) or not obj["text"]:
            self.add(f"{pointer}/text", "must be a non-empty string")
        else:
            self.at_most(f"{pointer}/text", obj["text"], limit)


def check_blocks(problems: Problems, blocks: Any, limit: int) -> None:
    if not isinstance(blocks, list):
        problems.add("/blocks", "must be an array")
        return
    problems.at_most("/blocks", blocks, limit)
    seen: set[str] = set()
    for index, block in enumerate(blocks):
        pointer = f"/blocks/{index}"
        if not isinstance(block, dict) or block.get("type") not in BLOCK_RULES:
            problems.add(pointer, "unknown block type")
            continue
        block_id = block.get("block_id")
        if block_id is not None:
            problems.at_most(f"{pointer}/block_id", block_id, ID_MAX)
            if block_id in seen:
                problems.add(f"{pointer}/block_id", "must be unique")  # {DOCS}/blocks: "unique for each message"
            seen.add(block_id)
        check_block(problems, pointer, block)


def check_block(problems: Problems, pointer: str, block: dict[str, Any]) -> None:
    kind = block["type"]
    rules = BLOCK_RULES[kind]
    if kind == "section":
        if "text" not in block and "fields" not in block:
            problems.add(pointer, "must provide text or fields")
        problems.text(f"{pointer}/text", block.get("text"), rules["text"], required=False)
        fields = block.get("fields") or []
        problems.at_most(f"{pointer}/fields", fields, rules["fields"])
        for index, field in enumerate(fields):
            problems.text(f"{pointer}/fields/{index}", field, rules["field"])
        if "accessory" in block:
            check_element(problems, f"{pointer}/accessory", block["accessory"])
    elif kind == "header":
        problems.text(f"{pointer}/text", block.get("text"), rules["text"])
    elif kind in ("context", "actions"):
        elements = block.get("elements")
        if not isinstance(elements, list) or not elements:
            problems.add(f"{pointer}/elements", "must be a non-empty array")
            return
        problems.at_most(f"{pointer}/elements", elements, rules["elements"])
        for index, element in enumerate(elements):
            if kind == "actions":
                check_element(problems, f"{pointer}/elements/{index}", element)
            elif element.get("type") in ("plain_text", "mrkdwn"):
                problems.text(f"{pointer}/elements/{index}", element, 3000)
    elif kind == "input":
        problems.text(f"{pointer}/label", block.get("label"), rules["label"])
        problems.text(f"{pointer}/hint", block.get("hint"), rules["hint"], required=False)
        check_element(problems, f"{pointer}/element", block.get("element"))


def check_element(problems: Problems, pointer: str, element: Any) -> None:
    if not isinstance(element, dict) or element.get("type") not in ELEMENT_RULES:
        problems.add(pointer, "unknown element type")
        return
    kind = element["type"]
    rules = ELEMENT_RULES[kind]
    problems.at_most(f"{pointer}/action_id", element.get("action_id"), ID_MAX)
    problems.text(f"{pointer}/placeholder", element.get("placeholder"), PLACEHOLDER_MAX, required=False)
    if kind == "button":
        problems.text(f"{pointer}/text", element.get("text"), rules["text"])
        problems.at_most(f"{pointer}/value", element.get("value"), rules["value"])
        problems.at_most(f"{pointer}/url", element.get("url"), rules["url"])
    if kind == "plain_text_input":
        for name, lowest in (("min_length", 0), ("max_length", 1)):
            value = element.get(name)
            if value is not None and not (isinstance(value, int) and lowest <= value <= TEXT_INPUT_MAX):
                problems.add(f"{pointer}/{name}", f"must be between {lowest} and {TEXT_INPUT_MAX}")
        problems.at_most(f"{pointer}/initial_value", element.get("initial_value"), element.get("max_length", 3000))
    for name in ("options", "option_groups"):
        if name in rules:
            problems.at_most(f"{pointer}/{name}", element.get(name), rules[name])
    check_options(problems, f"{pointer}/options", element.get("options"))
    for index, group in enumerate(element.get("option_groups") or []):
        problems.text(f"{pointer}/option_groups/{index}/label", group.get("label"), OPTION_TEXT_MAX)
        problems.at_most(f"{pointer}/option_groups/{index}/options", group.get("options"), 100)
        check_options(problems, f"{pointer}/option_groups/{index}/options", group.get("options"))
    check_options(problems, f"{pointer}/initial_options", element.get("initial_options"))
    if "initial_option" in element:
        check_options(problems, f"{pointer}/initial_option", [element["initial_option"]])
    if "confirm" in element:
        for name, limit in CONFIRM_RULES.items():
            problems.text(f"{pointer}/confirm/{name}", element["confirm"].get(name), limit)


def check_options(problems: Problems, pointer: str, options: Any) -> None:
    for index, item in enumerate(options or []):
        problems.text(f"{pointer}/{index}/text", item.get("text"), OPTION_TEXT_MAX)
        problems.text(f"{pointer}/{index}/description", item.get("description"), OPTION_TEXT_MAX, required=False)
        value = item.get("value")
        if not isinstance(value, str) or not value:
            problems.add(f"{pointer}/{index}/value", "must be a non-empty string")
        else:
            problems.at_most(f"{pointer}/{index}/value", value, OPTION_VALUE_MAX)


def blocks_text_size(blocks: Any) -> int:
    """Characters of text in ``blocks``: every text object's ``text`` (what ``msg_blocks_too_long`` counts)."""
    if isinstance(blocks, list):
        return sum(blocks_text_size(item) for item in blocks)
    if isinstance(blocks, dict):
        own = len(blocks["text"]) if blocks.get("type") in ("plain_text", "mrkdwn") and "text" in blocks else 0
        return own + sum(blocks_text_size(value) for key, value in blocks.items() if isinstance(value, (dict, list)))
    return 0


def message_problems(params: dict[str, Any]) -> list[str]:
    """Why Slack would refuse the blocks of a chat.* call with ``invalid_blocks`` (empty if it wouldn't)."""
    if "blocks" not in params:
        return []
    problems = Problems()
    check_blocks(problems, params["blocks"], MESSAGE_BLOCKS_MAX)
    return problems.lines


def view_problems(view: Any) -> list[str]:
    """Why Slack would refuse a view with ``invalid_arguments`` (empty if it wouldn't)."""
    problems = Problems()
    if not isinstance(view, dict) or view.get("type") not in ("modal", "home"):
        problems.add("/view/type", "must be modal or home")
        return problems.lines
    check_blocks(problems, view.get("blocks"), VIEW_BLOCKS_MAX)
    if view["type"] == "modal":
        problems.text("/view/title", view.get("title"), MODAL_TEXT_MAX)
        problems.text("/view/submit", view.get("submit"), MODAL_TEXT_MAX, required=False)
        problems.text("/view/close", view.get("close"), MODAL_TEXT_MAX, required=False)
        blocks = view.get("blocks")
        has_inputs = isinstance(blocks, list) and any(block.get("type") == "input" for block in blocks)
        if "submit" not in view and has_inputs:
            problems.add("/view/submit", "is required when the view has input blocks")  # docs.slack.dev/reference/views
    problems.at_most("/view/private_metadata", view.get("private_metadata"), PRIVATE_METADATA_MAX)
    for name in ("callback_id", "external_id"):
        problems.at_most(f"/view/{name}", view.get(name), ID_MAX)
    if len(json.dumps(view, ensure_ascii=False).encode()) >= VIEW_BYTES_MAX:
        problems.add("/view", f"must be less than {VIEW_BYTES_MAX} bytes")
    return problems.lines
