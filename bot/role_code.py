"""The role as code for a stored request: what the CLI prints, the request's thread gets and git keeps.

It reads the request, its approvals and what AWS answered from the store, renders both formats
(``bot.export``) and hands them on: after a create, and after each edit (the role's whole new state).
After a delete (asked for, or at expiry) the thread already says the role is gone, and git loses its file.
Nothing here undoes or changes a role: a failed upload or push is told in the thread, and a failed push is
recorded (``git_export_failed``) and tried again on housekeeping until an attempt succeeds (``git_exported``)
or a later change of the same role has its own commit.
"""

import logging

from bot.executor import Executor
from bot.export import FORMATS, CreatedRole, export_role, file_name
from bot.git_export import GitExportError, GitRepository
from bot.lifecycle import BOT_ACTOR, EventKind, Status
from bot.notifier import Notifier
from bot.store import Event, RequestRecord, Store

log = logging.getLogger(__name__)

DONE = {Status.CREATED: "created", Status.EDITED: "changed", Status.DELETED: "deleted"}
"""The end states that change the role's code, and how a commit says it."""
EXPORTED = (Status.CREATED, Status.EDITED)
"""The end states after which the role exists in the request's state. An extend is not among them: the
expiry is the bot's own and nothing about the role in AWS changes, so its code is what it was."""


def role_as_code(store: Store, record: RequestRecord) -> CreatedRole:
    """What the export needs: the role as it stands after ``record``, a create or an edit request carried out
    (an edit's full new state, not the change); ``ValueError`` saying why otherwise (a deleted role has none).

    The provenance tags are the ones the executor reported when it created the role
    (``ProvisionResult.provenance_tags``; an edit leaves them as they are); a role created before it
    reported them gets them rebuilt from the approvers its approval recorded.
    """
    if record.status == Status.DELETED:
        raise ValueError(
            f"{record.id} deleted the role {record.role_name} in {record.account_id}: it no longer exists, "
            "so there is nothing to export."
        )
    made = store.get(record.target_id or "") if record.status == Status.EDITED else record
    if made is None or made.status != Status.CREATED or not made.result or record.status not in EXPORTED:
        raise ValueError(f"{record.id} is {record.status}: only a created or edited role can be exported")
    tags = made.result.get("provenance_tags")
    if tags is None:
        approvers = recorded_approvers(store.events(made.id))
        tags = Executor.provenance_tags(made.id, made.requester, approvers, made.provenance_nonce)
    return CreatedRole(
        request=record.request,
        request_id=made.id,
        provenance_tags=tags,
        role_arn=made.result["role_arn"],
        instance_profile_arn=made.result.get("instance_profile_arn"),
        changed_by=record.id if made is not record else None,
    )


def recorded_approvers(events: list[Event]) -> list[str]:
    """The approvers the request's ``approved`` event recorded."""
    approved = [event for event in events if event.kind == EventKind.APPROVED]
    return list(approved[-1].details.get("approvers", [])) if approved else []


def export_failing(events: list[Event]) -> bool:
    """Whether the request's last git export failed (none has succeeded since)."""
    outcomes = [e.kind for e in events if e.kind in (EventKind.GIT_EXPORTED, EventKind.GIT_EXPORT_FAILED)]
    return bool(outcomes) and outcomes[-1] == EventKind.GIT_EXPORT_FAILED


def commit_message(role: CreatedRole, record: RequestRecord, approvers: list[str]) -> str:
    """Names what ``record`` did to the role, its request, requester and approvers (the bot, for an expiry)."""
    done, requester, approved = DONE[record.status], record.requester, ", ".join(approvers) or "none"
    if record.status == Status.DELETED and (record.subject or {}).get("expiry"):
        done, requester, approved = "deleted at its expiry", BOT_ACTOR, BOT_ACTOR
    return (
        f"{role.role_name} in {role.account_id}: {done} by iam-role-bot (request {record.id})\n\n"
        f"Request: {record.id}\nRequester: {requester}\nApprovers: {approved}\n"
    )


class RoleCode:
    """Gives a role's code to the thread and, when configured, to the git repository, after each change."""

    def __init__(self, store: Store, notifier: Notifier, repository: GitRepository | None = None) -> None:
        self.store = store
        self.notifier = notifier
        self.repository = repository

    def published(self, record: RequestRecord) -> None:
        """Right after "created" or "edited": the files in the thread, then the commit; after "deleted", the
        commit removing the file. Never raises."""
        try:
            if record.status in EXPORTED:
                role = role_as_code(self.store, record)
                files = [(file_name(role, format), export_role(role, format)) for format in FORMATS]
                self.notifier.role_as_code(record, files)
            self.commit(record)
        except Exception:
            log.exception("exporting %s failed", record.id)

    def commit(self, record: RequestRecord) -> None:
        """Commit and push the role's file (or its removal); record the outcome, and say a failure (or a late
        success) once."""
        if self.repository is None or record.status not in DONE:
            return
        if record.status == Status.DELETED:
            made = self.store.get(record.target_id or "")
            if made is None:
                return
            role, content = role_as_code(self.store, made), None
        else:
            role = role_as_code(self.store, record)
            content = export_role(role, self.repository.settings.format)
        failing = export_failing(self.store.events(record.id))
        message = commit_message(role, record, recorded_approvers(self.store.events(record.id)))
        try:
            path = self.repository.path_for(
                account_id=role.account_id, role_name=role.role_name, request_id=role.request_id
            )
            done = self.repository.commit(path, content, message)
        except GitExportError as error:
            log.warning("git export of %s failed: %s", record.id, error.message)
            self.store.add_event(record.id, BOT_ACTOR, EventKind.GIT_EXPORT_FAILED, {"error": error.message})
            if not failing:
                self.notifier.git_export_failed(record, error.message)
            return
        details = {"path": done.path, "commit": done.commit}
        self.store.add_event(record.id, BOT_ACTOR, EventKind.GIT_EXPORTED, details)
        if failing:
            self.notifier.git_exported(record, done.path, done.commit)

    def retry_failed(self) -> None:
        """Housekeeping: commit again each change whose last git export failed, while it is still the latest."""
        if self.repository is None:
            return
        for status in DONE:
            for record in self.store.by_status(status, limit=None):
                if export_failing(self.store.events(record.id)) and self.latest(record):
                    self.commit(record)

    def latest(self, record: RequestRecord) -> bool:
        """Whether ``record`` still says what the role is: a later edit or delete commits its own state, and an
        old attempt must not overwrite it (nor a deleted role's file come back, nor a new role of the same
        name lose its file)."""
        if record.status == Status.DELETED:
            return not self.store.live_roles(record.account_id, record.role_name)
        made = self.store.get(record.target_id or "") if record.status == Status.EDITED else record
        if made is None or made.id not in {live.id for live in self.store.live_roles(made.account_id)}:
            return False
        return self.store.approved_state(made).id == record.id
