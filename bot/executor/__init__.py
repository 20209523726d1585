"""Executor: carries out an approved request's plan in AWS — exactly once, completely, or not at all.

It knows nothing of Slack. ``provision`` checks first that everything the plan refers to exists,
then runs the plan: assumable roles in ``roles``, service-linked roles in ``service_linked``; AWS
errors are told in plain words by ``errors``. ``retire`` reads and deletes a role the bot made, ``edit`` changes one,
``drift`` reads one as it is and puts it back as approved.

Anything that is not an AWS error (a bug, an interrupt) is not caught: like a crash, it leaves the
work half done, and running the request again finishes it.
"""

import logging
from collections.abc import Callable
from typing import Any, TypeVar

from botocore.client import BaseClient

from bot.aws import AccountSessions
from bot.domain import AssumableRoleRequest, RoleRequest, ServiceLinkedRoleRequest
from bot.domain.drift import RoleState
from bot.domain.fields import is_tag_text
from bot.domain.last_use import LastUse
from bot.domain.retire import RoleToRetire
from bot.executor.drift import observe_role, restore_role, unchanged_since
from bot.executor.edit import edit_role
from bot.executor.errors import AWS_ERRORS, ProvisioningError, error_code, explain
from bot.executor.iam import PROVENANCE_KEYS, ProvisionResult, owner_tag
from bot.executor.retire import read_last_use, read_role, retire_role
from bot.executor.roles import provision_role
from bot.executor.service_linked import provision_service_linked

T = TypeVar("T")

__all__ = ["PROVENANCE_KEYS", "Executor", "ProvisionResult", "ProvisioningError", "explain"]

log = logging.getLogger(__name__)

WAITER_CONFIG: dict[str, int] = {"Delay": 1, "MaxAttempts": 20}
"""How long to wait for IAM's eventual consistency to show a new role or instance profile."""


class Executor:
    """Creates approved roles in their target accounts."""

    def __init__(self, sessions: AccountSessions) -> None:
        self.sessions = sessions

    @staticmethod
    def provenance_tags(request_id: str, requester: str, approvers: list[str], nonce: str = "") -> dict[str, str]:
        """The tags that mark a role as made by the bot for this request; values fit AWS's tag rules.

        ``nonce``: the request's secret (``RequestRecord.provenance_nonce``), part of the request-id tag.
        """
        values = (owner_tag(request_id, nonce), requester, " ".join(approvers))
        for key, value in zip(PROVENANCE_KEYS, values, strict=True):
            if len(value) > 256 or not is_tag_text(value):
                raise ValueError(f"{value!r} can't be the value of tag {key}: AWS's tag rules forbid it")
        return dict(zip(PROVENANCE_KEYS, values, strict=True))

    def provision(
        self, request: RoleRequest, *, request_id: str, requester: str, approvers: list[str], nonce: str = ""
    ) -> ProvisionResult:
        """Carry out the request's plan; raise ``ProvisioningError`` with nothing left behind.

        A role already there counts as this request's only if it carries the request-id tag with ``nonce``
        and is what the plan makes (``roles.survey``).
        """
        tags = self.provenance_tags(request_id, requester, approvers, nonce)
        iam = self._client(request.account_id)
        if isinstance(request, ServiceLinkedRoleRequest):
            return provision_service_linked(iam, request, request_id=request_id)
        return provision_role(iam, request, request_id=request_id, tags=tags, waiter_config=WAITER_CONFIG)

    def read_role(self, account_id: str, role_name: str) -> RoleToRetire | None:
        """A role as it is in AWS now, with what deleting it would remove (None: no such role).

        Raises ``ProvisioningError`` (step ``preflight``) when AWS can't be asked.
        """
        return self._reading(account_id, role_name, lambda iam: read_role(iam, account_id, role_name))

    def last_use(self, account_id: str, role_name: str, *, now: float) -> LastUse:
        """When IAM last saw the role used, read at ``now`` (one GetRole). Raises ``ProvisioningError``."""
        return self._reading(account_id, role_name, lambda iam: read_last_use(iam, role_name, now=now))

    def _reading(self, account_id: str, role_name: str, read: Callable[[BaseClient], T]) -> T:
        """``read(iam)`` in ``account_id``; an AWS error becomes a ``ProvisioningError`` saying what failed."""
        iam = self._client(account_id)
        try:
            return read(iam)
        except AWS_ERRORS as error:
            message = explain(error, doing=f"read the role {role_name}", account_id=account_id)
            raise ProvisioningError(message, step="preflight", code=error_code(error)) from error

    def retire(
        self,
        account_id: str,
        role_name: str,
        *,
        made_by: str,
        request_id: str,
        revoke_sessions: bool = False,
        role_id: str | None = None,
    ) -> dict[str, Any]:
        """Delete a role the bot made (its tag says ``made_by``; its RoleId is ``role_id`` when known), in the order
        AWS requires (``retire``)."""
        iam = self._client(account_id)
        return retire_role(
            iam,
            account_id,
            role_name,
            made_by=made_by,
            request_id=request_id,
            revoke_sessions=revoke_sessions,
            role_id=role_id,
        )

    def edit(
        self,
        before: AssumableRoleRequest,
        after: AssumableRoleRequest,
        *,
        made_by: str,
        request_id: str,
        role_id: str | None = None,
    ) -> dict[str, Any]:
        """Make exactly the difference between the role's approved state and the new one, or none (``edit``), on
        the role the bot made (its tag says ``made_by``; its RoleId is ``role_id`` when known)."""
        iam = self._client(before.account_id)
        return edit_role(iam, before, after, made_by=made_by, request_id=request_id, role_id=role_id)

    def observe(self, account_id: str, role_name: str) -> RoleState | None:
        """The role as AWS has it now (None: no such role); ``ProvisioningError`` when AWS can't be asked."""
        return self._reading(account_id, role_name, lambda iam: observe_role(iam, role_name))

    def confirm_unchanged(self, account_id: str, role_name: str, observed: RoleState | None) -> None:
        """``ProvisioningError`` unless the role is still exactly ``observed`` (None: gone); accepting drift applies
        nothing."""
        unchanged_since(self._client(account_id), account_id, role_name, observed)

    def restore(self, account_id: str, approved: RoleState, observed: RoleState, *, request_id: str) -> dict[str, Any]:
        """Put a drifted role back as approved, from exactly ``observed``, or leave it as it was (``drift``)."""
        return restore_role(self._client(account_id), account_id, approved, observed, request_id=request_id)

    def _client(self, account_id: str) -> BaseClient:
        try:
            return self.sessions.iam_client(account_id)
        except AWS_ERRORS as error:
            message = explain(error, doing="act in the account", account_id=account_id)
            raise ProvisioningError(message, step="preflight", code=error_code(error)) from error
