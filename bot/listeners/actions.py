"""Button presses and the role-type select: approve, reject, retry, cancel, switch type, open form."""

from collections.abc import Callable
from typing import Any

from slack_bolt import Ack, App

from blocks import ids
from bot.listeners.checking import held_key
from bot.service import RoleBot
from bot.workflow import ActionRefused


def clicked_value(body: dict[str, Any]) -> str:
    return body["actions"][0].get("value", "")


def thread_of(body: dict[str, Any]) -> str | None:
    """The thread the clicked message sits in, if it is a reply (a refusal goes there, not to the channel)."""
    return (body.get("message") or {}).get("thread_ts") or (body.get("container") or {}).get("thread_ts")


def from_home(body: dict[str, Any]) -> bool:
    """The click came from the App Home tab (whose buttons go stale once the request is decided)."""
    return (body.get("view") or {}).get("type") == "home"


def register(app: App, bot: RoleBot) -> None:
    def refuse(body: dict[str, Any], refused: ActionRefused) -> None:
        """Tell only the person who clicked why nothing happened."""
        user = body["user"]["id"]
        bot.refuse(user, refused.reason, channel=(body.get("channel") or {}).get("id"), thread_ts=thread_of(body))

    def guarded(body: dict[str, Any], action: Callable[[str, str], None]) -> None:
        try:
            action(clicked_value(body), body["user"]["id"])
        except ActionRefused as refused:
            refuse(body, refused)
        if from_home(body):
            bot.publish_home(body["user"]["id"])

    def decision(act: Callable[[str, str], None]) -> Callable[[Ack, dict[str, Any]], None]:
        def listener(ack: Ack, body: dict[str, Any]) -> None:
            ack()
            guarded(body, act)

        return listener

    for action_id, act in (
        (ids.APPROVE, bot.approve),
        (ids.RETRY, bot.retry),
        (ids.CANCEL, bot.cancel),
        (ids.EXTEND_ROLE, bot.extend_role),
        (ids.ACCEPT_DRIFT, bot.accept_drift),
        (ids.RESTORE_DRIFT, bot.restore_drift),
    ):
        app.action(action_id)(decision(act))

    @app.action(ids.DELETE_ROLE)
    def delete_role(ack: Ack, body: dict[str, Any]) -> None:
        """Delete now asks AWS after its ack (as ``/iam-role delete``): held before it, so a restart finishes it."""
        key, made_id = held_key(body["trigger_id"]), clicked_value(body)
        bot.hold_retirement_of(key, body["user"]["id"], made_id)
        ack()
        guarded(body, lambda made, user: bot.delete_role_now(made, user, submission_key=key))

    @app.action(ids.REJECT)
    def reject(ack: Ack, body: dict[str, Any]) -> None:
        ack()
        try:
            bot.open_rejection_form(body["trigger_id"], clicked_value(body), body["user"]["id"])
        except ActionRefused as refused:
            refuse(body, refused)
            if from_home(body):
                bot.publish_home(body["user"]["id"])

    @app.action(ids.ROLE_TYPE)
    def switch_type(ack: Ack, body: dict[str, Any]) -> None:
        ack()
        action = body["actions"][0]
        clicked_at = float(action.get("action_ts") or 0)
        bot.switch_form_type(body["view"], action["selected_option"]["value"], clicked_at=clicked_at)

    @app.action(ids.EDIT_ROLE)
    def edit_role(ack: Ack, body: dict[str, Any]) -> None:
        ack()
        try:
            bot.open_edit_form_of(body["trigger_id"], body["user"]["id"], clicked_value(body))
        except ActionRefused as refused:
            refuse(body, refused)

    @app.action(ids.OPEN_REQUEST_FORM)
    def open_form(ack: Ack, body: dict[str, Any]) -> None:
        ack()
        bot.open_request_form(body["trigger_id"], body["user"]["id"])
