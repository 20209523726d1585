"""Putting a role back after a change failed half-way: an edit's and a restore's undo, one loop for both.

The reverse plan is the whole difference read the other way; each of its steps is safe to repeat, and undoing a
step never reached finds nothing to undo (NoSuchEntity counts as done), so the whole plan is run.
"""

import logging

from botocore.client import BaseClient

from bot.domain.plan import PlanStep
from bot.executor.errors import AWS_ERRORS, error_code

log = logging.getLogger(__name__)


def put_back(iam: BaseClient, reverse_plan: list[PlanStep], change: str) -> str:
    """Run ``reverse_plan`` (every step, whatever fails); say, for the requester, whether the role is as it was.
    ``change``: what is undone ("the edit", "the restore"), for the log."""
    left = []
    for step in reverse_plan:
        try:
            getattr(iam, step.method)(**step.params)
        except AWS_ERRORS as error:
            if error_code(error) != "NoSuchEntity":
                log.warning("Undoing %s could not %s: %s", change, step.doing(), error)
                left.append(step.doing())
    if left:
        return f"The bot could not put everything back; it could not {'; '.join(left)}. Fix it by hand."
    return "The bot put the role back as it was."
