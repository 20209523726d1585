"""Button presses and the role-type select: approve, reject, retry, cancel, switch type, open form."""

from collections.abc import Callable
from typing import Any

from slack_bolt import Ack, App

from blocks import modals
from bot.service import RoleBot
from bot.workflow import ActionRefused


def clicked_value(body: dict[str, Any]) -> str:
    return body["actions"][0].get("value", "")


def from_home(body: dict[str, Any]) -> bool:
    """The click came from the App Home tab (whose buttons go stale once the request is decided)."""
    return (body.get("view") or {}).get("type") == "home"


def register(app: App, bot: RoleBot) -> None:
    def refuse(body: dict[str, Any], text: str) -> None:
        """Tell only the person who clicked why nothing happened."""
        user = body["user"]["id"]
        channel = (body.get("channel") or {}).get("id")
        if channel:
            bot.notifier.ephemeral(channel, user, text)
        else:
            bot.notifier.dm(user, bot.refusal(text))

    def guarded(body: dict[str, Any], action: Callable[[str, str], None]) -> None:
        try:
            action(clicked_value(body), body["user"]["id"])
        except ActionRefused as refused:
            refuse(body, refused.message)
        if from_home(body):
            bot.publish_home(body["user"]["id"])

    def decision(act: Callable[[str, str], None]) -> Callable[[Ack, dict[str, Any]], None]:
        def listener(ack: Ack, body: dict[str, Any]) -> None:
            ack()
            guarded(body, act)

        return listener

    for action_id, act in (("approve", bot.approve), ("retry", bot.retry), ("cancel", bot.cancel)):
        app.action(action_id)(decision(act))

    @app.action("reject")
    def reject(ack: Ack, body: dict[str, Any]) -> None:
        ack()
        request_id, user = clicked_value(body), body["user"]["id"]
        refusal = bot.workflow.may_decide(request_id, user)
        if refusal:
            refuse(body, refusal)
            if from_home(body):
                bot.publish_home(user)
            return
        record = bot.store.get(request_id)
        summary = record.request.summary() if record else request_id
        bot.notifier.open_view(body["trigger_id"], modals.reject_modal(request_id, summary), user)

    @app.action("role_type")
    def switch_type(ack: Ack, body: dict[str, Any]) -> None:
        ack()
        role_type = body["actions"][0]["selected_option"]["value"]
        view = body["view"]
        # a hash_conflict (the form changed meanwhile, e.g. two quick switches) is logged, not raised
        bot.notifier.call("views.update", view_id=view["id"], hash=view.get("hash"), view=bot.request_modal(role_type))

    @app.action("open_request_modal")
    def open_form(ack: Ack, body: dict[str, Any]) -> None:
        ack()
        bot.notifier.open_view(body["trigger_id"], bot.request_modal(None), body["user"]["id"])
