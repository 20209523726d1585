"""Modal submissions: the role request form (a new role, or a change of one the bot made) and the rejection
reason."""

from typing import Any

from slack_bolt import Ack, App

from blocks import ids, modals
from bot.listeners.checking import Outcome, check_then_finish
from bot.presenter import slack_text
from bot.service import RoleBot
from bot.workflow import ActionRefused


def submission_key(view: dict[str, Any]) -> str:
    """One form submission: its view id and hash, the same in every copy Slack sends of it (a slow answer
    makes Slack send it again; https://docs.slack.dev/reference/interaction-payloads/view-interactions-payload
    gives each view its ``id`` and ``hash``)."""
    return f"{view.get('id', '')}:{view.get('hash', '')}"


def register(app: App, bot: RoleBot) -> None:
    @app.view(ids.REQUEST_CALLBACK_ID)
    def submit_request(ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
        key, data, user = submission_key(view), modals.read_request_state(view), body["user"]["id"]
        earlier = bot.submitted_as(key)
        if earlier is not None:  # a copy Slack sent again: show what the first made, make nothing
            ack(response_action="update", view=bot.presenter.request_sent_modal(earlier))
            return

        made_id = modals.edited_role_id(view)

        def finish() -> Outcome | None:
            record = bot.submit_form(data, user, made_id=made_id, submission_key=key)
            if record is None:
                return None  # a copy: the thread that recorded the request shows it
            return Outcome(bot.presenter.request_sent_modal(record), then=lambda: bot.announce(record))

        check_then_finish(
            ack,
            bot,
            view,
            check_locally=lambda: bot.check_locally(data),
            finish=finish,
            form_again=lambda errors: bot.presenter.request_modal_again(view, errors),
            user=user,
            hold=lambda: bot.hold_submission(
                key, view["id"], user, (view.get("state") or {}).get("values") or {}, made_id=made_id
            ),
        )

    @app.view(ids.REJECT_CALLBACK_ID)
    def submit_rejection(ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
        request_id, user = view["private_metadata"], body["user"]["id"]
        reason = modals.read_reject_reason(view)
        if not reason:
            ack(response_action="errors", errors={ids.REASON: "Say why, so the requester can fix the request."})
            return
        try:  # recorded before the ack (bounded local work: one write), so a rejection Slack was told of is never lost
            rejected = bot.reject(request_id, user, reason)
        except ActionRefused as refused:
            ack(response_action="errors", errors={ids.REASON: slack_text(refused.reason)})
            return
        ack()
        bot.rejected(rejected)
        bot.publish_home(user)  # the approver's App Home no longer offers the request
