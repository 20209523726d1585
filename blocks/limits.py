"""Slack's documented Block Kit limits, checked recursively on raw dicts.

Slack refuses a whole message or view over a single limit (``invalid_blocks``), or a message whose
blocks hold too much text in all (``msg_blocks_too_long``, see ``MESSAGE_TEXT_BUDGET``), and slack_sdk
checks only its model classes, not dicts; so every builder's output is checked here in tests.
Each problem names where it is, e.g. ``blocks[3].fields[2]: text is 2105 characters (max 2000)``.
"""

import json
from collections.abc import Iterable
from typing import Any

from blocks.kit import (
    BUTTON_TEXT_MAX,
    FIELD_TEXT_MAX,
    HEADER_MAX,
    MESSAGE_BLOCKS_MAX,
    MESSAGE_TEXT_BUDGET,
    MESSAGE_TEXT_MAX,
    MODAL_TITLE_MAX,
    OPTION_TEXT_MAX,
    OPTION_VALUE_MAX,
    PLACEHOLDER_MAX,
    SECTION_TEXT_MAX,
    STATIC_OPTIONS_MAX,
    TEXT_INPUT_MAX,
    VIEW_BLOCKS_MAX,
    text_size,
)

ID_MAX = 255
PRIVATE_METADATA_MAX = 3000
VIEW_BYTES_MAX = 250_000
SECTION_FIELDS_MAX = 10
CONTEXT_ELEMENTS_MAX = 10
ACTIONS_ELEMENTS_MAX = 25
BUTTON_VALUE_MAX = 2000
URL_MAX = 3000
LABEL_MAX = 2000
HINT_MAX = 2000
OPTION_GROUPS_MAX = 100
CHOICE_OPTIONS_MAX = 10
CONFIRM_LIMITS = {"title": 100, "text": 300, "confirm": 30, "deny": 30}
SELECTS_WITH_OPTIONS = {"static_select", "multi_static_select"}
CHOICE_ELEMENTS = {"checkboxes", "radio_buttons"}


class Checker:
    """Collects problems while walking one message or view."""

    def __init__(self) -> None:
        self.problems: list[str] = []
        self.block_ids: set[str] = set()

    def add(self, where: str, problem: str) -> None:
        self.problems.append(f"{where}: {problem}" if where else problem)

    def length(self, where: str, name: str, value: Any, limit: int) -> None:
        if isinstance(value, str) and len(value) > limit:
            self.add(where, f"{name} is {len(value)} characters (max {limit})")

    def count(self, where: str, name: str, items: Any, limit: int) -> None:
        if isinstance(items, list) and len(items) > limit:
            self.add(where, f"{len(items)} {name} (max {limit})")

    def text(self, where: str, obj: Any, limit: int) -> None:
        """A text object: present, non-empty, within ``limit``."""
        if not isinstance(obj, dict) or not isinstance(obj.get("text"), str):
            self.add(where, "missing text object")
        elif not obj["text"]:
            self.add(where, "empty text")
        else:
            self.length(where, "text", obj["text"], limit)

    def optional_text(self, where: str, obj: Any, limit: int) -> None:
        if obj is not None:
            self.text(where, obj, limit)

    def blocks(self, blocks: Any, limit: int) -> None:
        if not isinstance(blocks, list):
            self.add("blocks", "must be a list")
            return
        self.count("", "blocks", blocks, limit)
        for index, block in enumerate(blocks):
            self.block(f"blocks[{index}]", block)

    def block(self, where: str, block: dict[str, Any]) -> None:
        block_id = block.get("block_id")
        if block_id is not None:
            self.length(where, "block_id", block_id, ID_MAX)
            if block_id in self.block_ids:
                self.add(where, f"duplicate block_id {block_id!r}")
            self.block_ids.add(block_id)
        kind = block.get("type")
        if kind == "section":
            self.section(where, block)
        elif kind == "header":
            self.text(f"{where}.text", block.get("text"), HEADER_MAX)
        elif kind == "context":
            self.count(where, "context elements", block.get("elements"), CONTEXT_ELEMENTS_MAX)
        elif kind == "actions":
            elements = block.get("elements") or []
            self.count(where, "actions elements", elements, ACTIONS_ELEMENTS_MAX)
            for index, element in enumerate(elements):
                self.element(f"{where}.elements[{index}]", element)
        elif kind == "input":
            self.text(f"{where}.label", block.get("label"), LABEL_MAX)
            self.optional_text(f"{where}.hint", block.get("hint"), HINT_MAX)
            self.element(f"{where}.element", block.get("element") or {})

    def section(self, where: str, block: dict[str, Any]) -> None:
        if "text" not in block and not block.get("fields"):
            self.add(where, "a section needs text or fields")
        self.optional_text(f"{where}.text", block.get("text"), SECTION_TEXT_MAX)
        fields = block.get("fields") or []
        self.count(where, "fields", fields, SECTION_FIELDS_MAX)
        for index, field in enumerate(fields):
            self.text(f"{where}.fields[{index}]", field, FIELD_TEXT_MAX)
        if "accessory" in block:
            self.element(f"{where}.accessory", block["accessory"])

    def element(self, where: str, element: dict[str, Any]) -> None:
        kind = element.get("type")
        self.length(where, "action_id", element.get("action_id"), ID_MAX)
        self.optional_text(f"{where}.placeholder", element.get("placeholder"), PLACEHOLDER_MAX)
        if kind == "button":
            self.text(f"{where}.text", element.get("text"), BUTTON_TEXT_MAX)
            self.length(where, "value", element.get("value"), BUTTON_VALUE_MAX)
            self.length(where, "url", element.get("url"), URL_MAX)
        if kind == "plain_text_input":
            for name in ("max_length", "min_length"):
                if element.get(name, 0) > TEXT_INPUT_MAX:
                    self.add(where, f"{name} {element[name]} (max {TEXT_INPUT_MAX})")
        if kind in SELECTS_WITH_OPTIONS:
            self.count(where, "options", element.get("options"), STATIC_OPTIONS_MAX)
            self.count(where, "option groups", element.get("option_groups"), OPTION_GROUPS_MAX)
            for index, group in enumerate(element.get("option_groups") or []):
                self.text(f"{where}.option_groups[{index}].label", group.get("label"), OPTION_TEXT_MAX)
                self.count(f"{where}.option_groups[{index}]", "options", group.get("options"), STATIC_OPTIONS_MAX)
                self.options(f"{where}.option_groups[{index}].options", group.get("options") or [])
        if kind in CHOICE_ELEMENTS:
            self.count(where, "options", element.get("options"), CHOICE_OPTIONS_MAX)
        self.options(f"{where}.options", element.get("options") or [])
        self.options(f"{where}.initial_options", element.get("initial_options") or [])
        if element.get("initial_option"):
            self.options(f"{where}.initial_option", [element["initial_option"]])
        if "confirm" in element:
            for name, limit in CONFIRM_LIMITS.items():
                self.text(f"{where}.confirm.{name}", element["confirm"].get(name), limit)

    def options(self, where: str, options: Iterable[dict[str, Any]]) -> None:
        for index, item in enumerate(options):
            self.text(f"{where}[{index}]", item.get("text"), OPTION_TEXT_MAX)
            self.optional_text(f"{where}[{index}].description", item.get("description"), OPTION_TEXT_MAX)
            value = item.get("value")
            if not isinstance(value, str) or not value:
                self.add(f"{where}[{index}]", "missing value")
            else:
                self.length(f"{where}[{index}]", "value", value, OPTION_VALUE_MAX)


def view_problems(view: dict[str, Any]) -> list[str]:
    """What in a modal or App Home view breaks Slack's limits (empty when it is fine)."""
    checker = Checker()
    checker.blocks(view.get("blocks"), VIEW_BLOCKS_MAX)
    if view.get("type") == "modal":
        checker.text("title", view.get("title"), MODAL_TITLE_MAX)
        checker.optional_text("submit", view.get("submit"), MODAL_TITLE_MAX)
        checker.optional_text("close", view.get("close"), MODAL_TITLE_MAX)
        if "submit" not in view and any(block.get("type") == "input" for block in view.get("blocks") or []):
            checker.add("submit", "a modal with inputs needs a submit button")
    checker.length("", "private_metadata", view.get("private_metadata"), PRIVATE_METADATA_MAX)
    checker.length("", "callback_id", view.get("callback_id"), ID_MAX)
    checker.length("", "external_id", view.get("external_id"), ID_MAX)
    size = len(json.dumps(view, ensure_ascii=False).encode())
    if size >= VIEW_BYTES_MAX:
        checker.add("", f"view is {size:,} bytes of JSON (max {VIEW_BYTES_MAX:,})")
    return checker.problems


def message_problems(text: str, blocks: list[dict[str, Any]]) -> list[str]:
    """What in a message (fallback ``text`` and ``blocks``) breaks Slack's limits."""
    checker = Checker()
    checker.length("", "text", text, MESSAGE_TEXT_MAX)
    checker.blocks(blocks, MESSAGE_BLOCKS_MAX)
    if (total := text_size(blocks)) > MESSAGE_TEXT_BUDGET:
        checker.add("blocks", f"{total:,} characters of text in all (max {MESSAGE_TEXT_BUDGET:,}: msg_blocks_too_long)")
    return checker.problems


def assert_within_limits(obj: dict[str, Any] | tuple[str, list[dict[str, Any]]]) -> None:
    """Raise ``ValueError`` listing the problems of a view dict or a ``(text, blocks)`` message."""
    problems = view_problems(obj) if isinstance(obj, dict) else message_problems(*obj)
    if problems:
        raise ValueError("Over Slack's limits:\n" + "\n".join(problems))
