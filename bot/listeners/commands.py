"""``/iam-role``: open the request modal, or answer help / list / status (ephemeral)."""

from typing import Any

from slack_bolt import Ack, App

from blocks import messages
from bot.domain import RoleType
from bot.service import RoleBot

ROLE_TYPES = {role_type.value for role_type in RoleType}


def request_id_of(text: str) -> str:
    """The request id in what follows ``status``: ``R-1042``, ``r-1042``, ``1042``, ``R-1042 please``."""
    word = text.split()[0].strip("`*_#<>.,;:!?()[]").upper() if text.split() else ""
    return f"R-{word}" if word.isdigit() else word


def register(app: App, bot: RoleBot) -> None:
    @app.command("/iam-role")
    def iam_role(ack: Ack, command: dict[str, Any]) -> None:
        word, _, rest = command.get("text", "").strip().partition(" ")
        word = word.lower()
        user = command["user_id"]
        if word in ROLE_TYPES or word in ("", "new"):
            ack()
            role_type = word if word in ROLE_TYPES else None
            bot.notifier.open_view(command["trigger_id"], bot.request_modal(role_type), user)
        elif word == "list":
            text, blocks = messages.request_list(bot.cards(bot.store.for_requester(user, limit=20)))
            ack(text=text, blocks=blocks, response_type="ephemeral")
        elif word == "status" and rest.strip():
            text, blocks = bot.status_message(request_id_of(rest), user)
            ack(text=text, blocks=blocks, response_type="ephemeral")
        else:
            text, blocks = messages.help_message()
            ack(text=text, blocks=blocks, response_type="ephemeral")
