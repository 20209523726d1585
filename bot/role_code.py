"""The role as code for a stored request: what the CLI prints, the request's thread gets and git keeps.

It reads the request, its approvals and what AWS answered from the store, renders both formats
(``bot.export``) and hands them on. Nothing here undoes or changes a role: a failed upload or push
is told in the thread, and a failed push is recorded (``git_export_failed``) and tried again on
housekeeping until an attempt succeeds (``git_exported``).
"""

import logging

from bot.executor import PROVENANCE_KEYS, Executor
from bot.export import FORMATS, CreatedRole, export_role, file_name
from bot.git_export import GitExportError, GitRepository
from bot.lifecycle import BOT_ACTOR, EventKind, Status
from bot.notifier import Notifier
from bot.store import Event, RequestRecord, Store

log = logging.getLogger(__name__)


def created_role(store: Store, record: RequestRecord) -> CreatedRole:
    """What the export needs, for a request whose role was created (``ValueError`` otherwise).

    The provenance tags are the ones the executor reported (``ProvisionResult.provenance_tags``); a role
    created before it reported them gets them rebuilt from the approvers its approval recorded.
    """
    if record.status != Status.CREATED or not record.result:
        raise ValueError(f"{record.id} is {record.status}: only a created role can be exported")
    tags = record.result.get("provenance_tags")
    if tags is None:
        approvers = recorded_approvers(store.events(record.id))
        tags = Executor.provenance_tags(record.id, record.requester, approvers, record.provenance_nonce)
    return CreatedRole(
        request=record.request,
        request_id=record.id,
        provenance_tags=tags,
        role_arn=record.result["role_arn"],
        instance_profile_arn=record.result.get("instance_profile_arn"),
    )


def recorded_approvers(events: list[Event]) -> list[str]:
    """The approvers the request's ``approved`` event recorded."""
    approved = [event for event in events if event.kind == EventKind.APPROVED]
    return list(approved[-1].details.get("approvers", [])) if approved else []


def export_failing(events: list[Event]) -> bool:
    """Whether the request's last git export failed (none has succeeded since)."""
    outcomes = [e.kind for e in events if e.kind in (EventKind.GIT_EXPORTED, EventKind.GIT_EXPORT_FAILED)]
    return bool(outcomes) and outcomes[-1] == EventKind.GIT_EXPORT_FAILED


def commit_message(role: CreatedRole) -> str:
    """Names the request, the requester and the approvers, as the role's provenance tags do."""
    _, requester_key, approvers_key = PROVENANCE_KEYS
    approvers = role.provenance_tags.get(approvers_key, "").split()
    return (
        f"{role.role_name} in {role.account_id}: created by iam-role-bot (request {role.request_id})\n\n"
        f"Request: {role.request_id}\nRequester: {role.provenance_tags.get(requester_key, '')}\n"
        f"Approvers: {', '.join(approvers) or 'none'}\n"
    )


class RoleCode:
    """Gives a created role's code to the thread and, when configured, to the git repository."""

    def __init__(self, store: Store, notifier: Notifier, repository: GitRepository | None = None) -> None:
        self.store = store
        self.notifier = notifier
        self.repository = repository

    def published(self, record: RequestRecord) -> None:
        """Right after "created": the files in the thread, then the commit. Never raises."""
        try:
            role = created_role(self.store, record)
            files = [(file_name(role, format), export_role(role, format)) for format in FORMATS]
        except Exception:
            log.exception("exporting %s failed", record.id)
            return
        self.notifier.role_as_code(record, files)
        self.commit(record, role)

    def commit(self, record: RequestRecord, role: CreatedRole | None = None) -> None:
        """Commit and push the role's file; record the outcome, and say a failure (or a late success) once."""
        if self.repository is None:
            return
        role = role or created_role(self.store, record)
        failing = export_failing(self.store.events(record.id))
        settings = self.repository.settings
        try:
            path = self.repository.path_for(
                account_id=role.account_id, role_name=role.role_name, request_id=role.request_id
            )
            done = self.repository.commit(path, export_role(role, settings.format), commit_message(role))
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
        """Housekeeping: commit again every created role whose last git export failed."""
        if self.repository is None:
            return
        for record in self.store.by_status(Status.CREATED, limit=None):
            if export_failing(self.store.events(record.id)):
                self.commit(record)
