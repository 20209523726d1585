"""``/iam-role``: open the request modal, ask to delete a role, or answer help / list / status (ephemeral)."""

from typing import Any

from slack_bolt import Ack, App

from bot.domain import RoleType
from bot.listeners.checking import held_key
from bot.service import RoleBot
from bot.workflow import ActionRefused

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
            bot.open_request_form(command["trigger_id"], user, word if word in ROLE_TYPES else None)
            return
        if word == "edit" and rest.split():
            role_name, *account = rest.split()
            ack()
            try:
                bot.open_edit_form(command["trigger_id"], user, role_name, account[0] if account else None)
            except ActionRefused as refused:
                bot.refuse(user, refused.reason, channel=command.get("channel_id"))
            return
        if word == "delete" and rest.split():
            role_name, *account = rest.split()
            key = held_key(command["trigger_id"])
            bot.hold_retirement(key, user, role_name, account[0] if account else None)  # a restart finishes it
            ack(text=f"Looking up the role {role_name}…", response_type="ephemeral")
            try:  # reads AWS: after the acknowledgement
                bot.ask_to_delete(user, role_name, account[0] if account else None, submission_key=key)
            except ActionRefused as refused:
                bot.refuse(user, refused.reason, channel=command.get("channel_id"))
            return
        if word == "list":
            text, blocks = bot.presenter.request_list(bot.requests_of(user))
        elif word == "status" and rest.strip():
            try:
                text, blocks = bot.presenter.status(*bot.history(request_id_of(rest), user))
            except ActionRefused as refused:
                text, blocks = bot.presenter.refusal(refused.reason)
        else:
            text, blocks = bot.presenter.help()
        ack(text=text, blocks=blocks, response_type="ephemeral")
