"""The words of a request's life, in one place: statuses, the moves between them, event kinds, the bot's
name as an actor, who approved a request, and sentences that name people without saying how.

    submitted -> approved -> provisioning -> created | edited | deleted | extended | accepted | restored | failed
    submitted -> rejected | cancelled | expired
    failed -> provisioning (an approver retries)

A request has a ``RequestKind``: ``create`` makes a role, ``edit`` changes one the bot made,
``delete`` retires one, ``extend`` gives a time-limited one more days; after drift (a role changed outside
the bot), ``accept`` makes what AWS has its approved state and ``restore`` puts back the approved one. Every
kind goes through the same review, approvals, events and notifications; only what is done, and the status it
ends in, differ.

Pure: no I/O, no Slack. ``bot.workflow`` makes the moves, ``bot.store`` keeps them, the notifier and
the presenter say them.
"""

from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass
from enum import StrEnum


class RequestKind(StrEnum):
    """What a request asks the bot to do with a role (the ``kind`` column of ``requests``)."""

    CREATE = "create"
    DELETE = "delete"
    """Retire a role the bot created; the request names the one that created it (``target_id``)."""
    EDIT = "edit"
    """Change a role the bot created to the request's state (``target_id``; ``subject["before"]``)."""
    EXTEND = "extend"
    """Move a time-limited role's expiry later (``target_id`` as for delete)."""
    ACCEPT = "accept"
    """Make a drifted role's state in AWS its approved state (``subject``: the drift report, the approved and
    the observed ``bot.domain.drift.RoleState``); nothing changes in AWS."""
    RESTORE = "restore"
    """Put a drifted role back to its approved state (``subject`` as for accept); approved by the click of an
    approver (the state it restores was approved already)."""


class Status(StrEnum):
    """Where a request is in its life; ``TRANSITIONS`` lists the allowed moves."""

    SUBMITTED = "submitted"
    APPROVED = "approved"
    PROVISIONING = "provisioning"
    CREATED = "created"
    EDITED = "edited"
    DELETED = "deleted"
    EXTENDED = "extended"
    ACCEPTED = "accepted"
    RESTORED = "restored"
    FAILED = "failed"
    REJECTED = "rejected"
    CANCELLED = "cancelled"
    EXPIRED = "expired"


TRANSITIONS: dict[Status, frozenset[Status]] = {
    Status.SUBMITTED: frozenset({Status.APPROVED, Status.REJECTED, Status.CANCELLED, Status.EXPIRED}),
    Status.APPROVED: frozenset({Status.PROVISIONING}),
    Status.PROVISIONING: frozenset(
        {
            Status.CREATED,
            Status.EDITED,
            Status.DELETED,
            Status.EXTENDED,
            Status.ACCEPTED,
            Status.RESTORED,
            Status.FAILED,
        }
    ),
    Status.FAILED: frozenset({Status.PROVISIONING}),
    Status.CREATED: frozenset(),
    Status.EDITED: frozenset(),
    Status.DELETED: frozenset(),
    Status.EXTENDED: frozenset(),
    Status.ACCEPTED: frozenset(),
    Status.RESTORED: frozenset(),
    Status.REJECTED: frozenset(),
    Status.CANCELLED: frozenset(),
    Status.EXPIRED: frozenset(),
}
"""Every allowed status change; ``Workflow`` makes no other."""
FINAL_STATUSES = frozenset(status for status, moves in TRANSITIONS.items() if not moves)
"""A request in one of these will do nothing more."""
ANNOUNCED_STATUSES = FINAL_STATUSES | {Status.FAILED}
"""Outcomes told in Slack through the outbox: the move to one writes a notice (table ``notices``, its kind the status
reached) in the same transaction, and a live replica sends it (``RoleBot.tell``, ``RoleBot.resume_notices``), so an
outcome recorded is announced even if the replica that recorded it dies before telling."""
ROLE_THERE_STATUSES = frozenset({Status.CREATED, Status.EDITED, Status.EXTENDED, Status.ACCEPTED, Status.RESTORED})
"""Outcomes whose DM (and, for created, the notifications channel's post) speaks of the role as there: ready, changed,
kept longer, its state settled. Told late, after a delete request deleted the role, they are said in the request's
thread and approval message alone (``Workflow.made_role_gone``)."""
OPEN_STATUSES = frozenset({Status.SUBMITTED, Status.APPROVED, Status.PROVISIONING})
"""A request in one of these awaits approvers or is being carried out: what ``[limits]
max_open_requests_per_requester`` counts. Failed ones are left out: only an approver moves them on, so
counting them could lock a requester out for good."""


class EventKind(StrEnum):
    """What one line of a request's history records (the ``kind`` column of ``events``)."""

    SUBMITTED = "submitted"
    APPROVAL = "approval"
    """One approver's vote (a high-risk request needs several)."""
    APPROVED = "approved"
    """The vote that completed the approvals; ``details["approvers"]``."""
    REJECTED = "rejected"
    """``details["reason"]``."""
    CANCELLED = "cancelled"
    EXPIRED = "expired"
    REMINDED = "reminded"
    PROVISIONING = "provisioning"
    RETRIED = "retried"
    RESUMED = "resumed"
    CREATED = "created"
    """``details`` = what was made."""
    DELETED = "deleted"
    """A delete request's role is gone; ``details`` = what was removed."""
    EDITED = "edited"
    """An edit request's change is made; ``details`` = the calls made."""
    EXTENDED = "extended"
    """An extend request moved the role's expiry; ``details["expires_at"]``."""
    ACCEPTED = "accepted"
    """An accept request found the role still as reported: its observed state is the approved state now."""
    RESTORED = "restored"
    """A restore request put the role back to its approved state; ``details`` = the calls made."""
    EXPIRY_REMINDED = "expiry_reminded"
    """On a create request: its requester was told the role expires soon; ``details["expires_at"]``."""
    FAILED = "failed"
    """``details["error"]``."""
    GIT_EXPORTED = "git_exported"
    """The role's code reached the ``[export]`` repository; ``details["path"]``, ``details["commit"]``
    (None when the file was already exactly this)."""
    GIT_EXPORT_FAILED = "git_export_failed"
    """Committing or pushing the role's code failed (housekeeping tries again); ``details["error"]``."""
    NOT_POSTED = "not_posted"
    """Slack refused to post the request for approval: ``details["error"]`` (Slack's code), ``details["final"]``
    (a permanent error, or the last attempt: the bot stops trying)."""


DECISION_KINDS = frozenset({EventKind.APPROVED, EventKind.REJECTED, EventKind.CANCELLED, EventKind.EXPIRED})
"""Events that end a request's wait for approval."""

BOT_ACTOR = "iam-role-bot"
"""The actor of what the bot does by itself: expiring, reminding, provisioning, resuming."""


def approved_by(
    voters: Iterable[tuple[str, EventKind | str]], *, approvers: Collection[str], requester: str
) -> list[str]:
    """Who approved a request, in order: distinct voters who are its approvers now, never its requester.

    ``voters`` are ``(actor, kind)`` of the request's events; only ``approval`` votes count. This one
    answer feeds the vote count, the card and the provenance tag on the role.
    """
    votes = (actor for actor, kind in voters if kind == EventKind.APPROVAL)
    return [user for user in dict.fromkeys(votes) if user in approvers and user != requester]


@dataclass(frozen=True)
class Person:
    """Someone named in a sentence; how the name reads (in Slack, a mention) is the presenter's choice."""

    id: str


@dataclass(frozen=True)
class Sentence:
    """Text for a person to read that may name people, e.g. "R-1042 was already approved by <someone>."."""

    parts: tuple[str | Person, ...]

    @classmethod
    def of(cls, *parts: str | Person) -> "Sentence":
        return cls(parts)

    def render(self, name: Callable[[str], str]) -> str:
        """The sentence with each person written by ``name(user_id)``."""
        return "".join(name(part.id) if isinstance(part, Person) else part for part in self.parts)

    def __str__(self) -> str:
        """The sentence with people as their bare ids (logs, exceptions)."""
        return self.render(str)

    def then(self, more: str) -> "Sentence":
        return Sentence((*self.parts, more))


def people(users: Collection[str]) -> tuple[str | Person, ...]:
    """``A``, ``A and B``, ``A, B and C``, as sentence parts."""
    named = [Person(user) for user in users]
    parts: list[str | Person] = []
    for index, person in enumerate(named):
        if index:
            parts.append(" and " if index == len(named) - 1 else ", ")
        parts.append(person)
    return tuple(parts)
