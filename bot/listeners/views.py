"""Modal submissions: the role request form and the rejection reason."""

from typing import Any

from slack_bolt import Ack, App

from blocks import modals
from bot.domain import RequestInvalid
from bot.service import RoleBot
from bot.workflow import ActionRefused

MAX_ERROR_CHARS = 2000


def errors_for_view(errors: dict[str, str], view: dict[str, Any]) -> dict[str, str]:
    """Field errors keyed by block id; an error on a field the modal doesn't show goes on the type."""
    shown = {block.get("block_id") for block in view.get("blocks", []) if block.get("type") == "input"}
    result: dict[str, str] = {}
    for field, message in errors.items():
        block = field if field in shown else "role_type"
        result[block] = " ".join(filter(None, [result.get(block), message]))[:MAX_ERROR_CHARS]
    return result


def register(app: App, bot: RoleBot) -> None:
    @app.view("role_request")
    def submit_request(ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
        try:
            record = bot.submit(modals.read_request_state(view), body["user"]["id"])
        except RequestInvalid as invalid:
            ack(response_action="errors", errors=errors_for_view(invalid.errors, view))
            return
        ack()
        bot.announce(record)

    @app.view("reject_request")
    def submit_rejection(ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
        request_id, user = view["private_metadata"], body["user"]["id"]
        reason = modals.read_reject_reason(view)
        refusal = bot.workflow.may_decide(request_id, user)
        if not reason:
            ack(response_action="errors", errors={"reason": "Say why, so the requester can fix the request."})
        elif refusal:
            ack(response_action="errors", errors={"reason": refusal})
        else:
            ack()
            try:
                bot.reject(request_id, user, reason)
            except ActionRefused as refused:
                bot.notifier.dm(user, bot.refusal(refused.message))
            bot.publish_home(user)  # the approver's App Home no longer offers the request
