"""Modal submissions: the role request form and the rejection reason."""

from typing import Any

from slack_bolt import Ack, App

from blocks import ids, modals
from bot.domain import RequestInvalid
from bot.presenter import slack_text
from bot.service import RoleBot
from bot.workflow import ActionRefused

MAX_ERROR_CHARS = 2000


def errors_for_view(errors: dict[str, str], view: dict[str, Any]) -> dict[str, str]:
    """Field errors keyed by block id; an error on a field the modal doesn't show goes on the type."""
    shown = {block.get("block_id") for block in view.get("blocks", []) if block.get("type") == "input"}
    result: dict[str, str] = {}
    for field, message in errors.items():
        block = field if field in shown else ids.ROLE_TYPE
        result[block] = " ".join(filter(None, [result.get(block), message]))[:MAX_ERROR_CHARS]
    return result


def submission_key(view: dict[str, Any]) -> str:
    """One form submission: its view id and hash, the same in every copy Slack sends of it (a slow answer
    makes Slack send it again; https://docs.slack.dev/reference/interaction-payloads/view-interactions-payload
    gives each view its ``id`` and ``hash``)."""
    return f"{view.get('id', '')}:{view.get('hash', '')}"


def register(app: App, bot: RoleBot) -> None:
    @app.view(ids.REQUEST_CALLBACK_ID)
    def submit_request(ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
        try:
            record = bot.submit(
                modals.read_request_state(view), body["user"]["id"], submission_key=submission_key(view)
            )
        except RequestInvalid as invalid:
            ack(response_action="errors", errors=errors_for_view(invalid.errors, view))
            return
        ack()
        if record is not None:
            bot.announce(record)

    @app.view(ids.REJECT_CALLBACK_ID)
    def submit_rejection(ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
        request_id, user = view["private_metadata"], body["user"]["id"]
        reason = modals.read_reject_reason(view)
        refusal = bot.may_reject(request_id, user)
        if not reason:
            ack(response_action="errors", errors={ids.REASON: "Say why, so the requester can fix the request."})
        elif refusal:
            ack(response_action="errors", errors={ids.REASON: slack_text(refusal)})
        else:
            ack()
            try:
                bot.reject(request_id, user, reason)
            except ActionRefused as refused:
                bot.refuse(user, refused.reason)
            bot.publish_home(user)  # the approver's App Home no longer offers the request
