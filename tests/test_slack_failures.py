"""When something breaks inside the bot, Slack gets a polite answer, never a 500 or a stack trace."""

import json
import sqlite3

from bot.app import SORRY
from bot.sandbox.stack import BotStack
from tests.e2e import REQUESTER, open_modal, submit


def break_database(stack: BotStack) -> None:
    """The requests table disappears under the running bot (as a broken disk or a bad migration would do)."""
    with sqlite3.connect(stack.settings.database_path) as db:
        db.execute("ALTER TABLE requests RENAME TO requests_elsewhere")


def test_a_failing_submission_is_answered_with_an_error_in_the_form(stack: BotStack) -> None:
    view = open_modal(stack, REQUESTER, "service")
    break_database(stack)
    answers = {
        "account_id": stack.runtime.bot.choices.account_ids()[0],
        "role_name": "etl",
        "service_principal": "glue.amazonaws.com",
        "justification": "Nightly ETL.",
    }
    # The failure comes after the ack (recording follows the checks that ask AWS): the form comes back with it.
    assert submit(stack, REQUESTER, view, answers) == {"response_action": "errors", "errors": {"role_type": SORRY}}
    assert "Traceback" not in json.dumps(stack.slack.calls("views.update")[-1].params)


def test_a_failing_command_is_answered_with_an_apology(stack: BotStack) -> None:
    break_database(stack)
    reply = stack.driver.command(REQUESTER, "list")
    assert reply.status == 200
    assert reply.json() == {"response_type": "ephemeral", "text": SORRY}
