"""Options-load responses for the form's external selects (policies, services, identity providers)."""

from typing import Any

from blocks.kit import OPTION_VALUE_MAX, option

OPTIONS_MAX = 100


def option_list(choices: list[tuple[str, str]]) -> list[dict[str, Any]]:
    """Options for ``ack(options=…)`` from (text, value) pairs: at most 100, texts cut to 75 characters.

    A value longer than Slack's 150 characters can't be selected, so it is left out rather than
    letting Slack refuse the whole list.
    """
    fitting = [(text, value) for text, value in choices if 0 < len(value) <= OPTION_VALUE_MAX]
    return [option(text, value) for text, value in fitting[:OPTIONS_MAX]]
