"""A form whose checks ask AWS or Slack: what is known locally is checked before the ack, the rest after it.

Slack waits at most 3 s for a ``view_submission``'s answer (https://docs.slack.dev/surfaces/modals, "respond
within 3 seconds"), so only bounded local work comes before the ack. Errors found then come back next to their
fields (``response_action: errors``); otherwise the form turns into a "checking" view (``response_action:
update``, same view id) and the remote checks run on Bolt's listener pool, after which ``views.update`` shows
their outcome or the form again, with what was typed and the errors under the fields.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from slack_bolt import Ack

from blocks import ids
from bot.domain import RequestInvalid
from bot.service import RoleBot, checked

MAX_ERROR_CHARS = 2000


@dataclass(frozen=True)
class Outcome:
    """What a form shows once it is checked, and what happens after it is shown (``then``)."""

    view: dict[str, Any]
    then: Callable[[], object] | None = None


def held_key(trigger_id: str) -> str:
    """A command or click held until it is finished (``RoleBot.hold_retirement``), named by its trigger id: Slack
    sends a new one with each (https://docs.slack.dev/reference/interaction-payloads/block_actions-payload,
    https://docs.slack.dev/interactivity/implementing-slash-commands: ``trigger_id``)."""
    return f"trigger:{trigger_id}"


def errors_for_view(errors: dict[str, str], view: dict[str, Any]) -> dict[str, str]:
    """Field errors keyed by block id; an error on a field the modal doesn't show goes on the type."""
    shown = {block.get("block_id") for block in view.get("blocks", []) if block.get("type") == "input"}
    result: dict[str, str] = {}
    for field, message in errors.items():
        block = field if field in shown else ids.ROLE_TYPE
        result[block] = " ".join(filter(None, [result.get(block), message]))[:MAX_ERROR_CHARS]
    return result


def check_then_finish(
    ack: Ack,
    bot: RoleBot,
    view: dict[str, Any],
    *,
    check_locally: Callable[[], bool],
    finish: Callable[[], Outcome | None],
    form_again: Callable[[dict[str, str]], dict[str, Any]],
    user: str,
    hold: Callable[[], bool] | None = None,
) -> None:
    """Run a submitted form's checks around the ack.

    ``check_locally`` (no I/O) raises ``RequestInvalid`` for errors shown next to their fields in the ack, and
    says whether ``finish`` asks AWS or Slack. ``finish`` raises ``RequestInvalid`` for errors, or returns the
    ``Outcome`` to show (None: show nothing, e.g. a copy of a submission another thread is finishing). A
    ``finish`` that asks nobody runs before the ack, whose answer then is its outcome; one that does runs after
    an ack showing the "checking" view, and its outcome (or ``form_again(errors)``) replaces that view; if ``user``
    closed the view meanwhile, the errors go to them by DM. ``hold`` (bounded local work) runs before that ack:
    it persists the submission, so a restart can finish it (``RoleBot.resume_interrupted``); False for a copy of a
    submission held already, which is only acked: the holder finishes it and shows its outcome.
    """
    try:
        remote = check_locally()
        outcome = None if remote else finish()
    except RequestInvalid as invalid:
        ack(response_action="errors", errors=errors_for_view(invalid.errors, view))
        return
    if not remote:
        if outcome is None:
            ack()
            return
        ack(response_action="update", view=outcome.view)
        if outcome.then is not None:
            outcome.then()
        return
    held_already = hold is not None and not hold()
    ack(response_action="update", view=bot.presenter.checking_modal())
    if held_already:
        return
    outcome, errors = checked(finish, "checking a submitted form")
    if errors:
        bot.show_form_errors(view["id"], user, form_again(errors), errors)
        return
    if outcome is not None:
        bot.show_view(view["id"], outcome.view)
        if outcome.then is not None:
            outcome.then()
