"""Service-linked roles: CreateServiceLinkedRole exactly as approved (a refused suffix fails the request).

One round trip when nothing is in the way: the call itself is the check that the role is not there
yet. AWS refuses a second role of the same service and suffix as a whole ("the request fails with a
duplicate role name error": CustomSuffix,
https://docs.aws.amazon.com/IAM/latest/APIReference/API_CreateServiceLinkedRole.html), so a refusal
changes nothing and a look before the call (ListRoles) would only ask what the call answers anyway.
The bot looks (ListRoles of the service's path) only after that refusal, to name the role in the way.

Service-linked roles cannot be tagged, so the bot cannot tell whether a service-linked role that
already exists was made by an earlier attempt of the same request. It reports such a role as a
failure (at ``preflight``: nothing was changed) rather than claim it: the role is usable as it is,
and the audit trail stays truthful. Only a role created while the bot's own call was under way (its
``CreateDate`` not before the call started: an attempt whose answer was lost, then retried) is taken
as made by the bot. Before, "under way" was "absent from a ListRoles made just before the call"; the
window is now the call itself, read on the bot's clock against IAM's. A bot clock ahead of IAM's and
IAM's whole-second ``CreateDate`` only narrow it (a role of ours then counts as not ours: the request
fails and says the role can be used as it is); a clock behind IAM's widens it by the difference,
which NTP keeps to milliseconds and SigV4 bounds at 5 minutes (AWS refuses requests signed further
off: https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_aws-signing.html). Whoever
made it, a service-linked role is what the service defines, the same as the approved one.

There is no waiter: CreateServiceLinkedRole's answer is the role as IAM's control plane stored it,
and no later step needs to find it. A GetRole that shows the role says nothing about whether the
service can use it yet (IAM is eventually consistent:
https://docs.aws.amazon.com/IAM/latest/UserGuide/troubleshoot_general.html#troubleshoot_general_eventual-consistency);
the "created" reply says that it may take a few seconds (``blocks.messages.PROPAGATION_NOTE``).
"""

import logging
from datetime import UTC, datetime
from typing import Any

from botocore.client import BaseClient
from botocore.exceptions import ClientError

from bot.domain import PlanStep, ServiceLinkedRoleRequest
from bot.executor.errors import AWS_ERRORS, ProvisioningError, error_code, error_text, explain, failed
from bot.executor.iam import ProvisionResult, paginate

log = logging.getLogger(__name__)


def service_role_taken(error: Exception) -> bool:
    """CreateServiceLinkedRole's "already exists" (AWS: InvalidInput "… has been taken …")."""
    if not isinstance(error, ClientError):
        return False
    code = error_code(error)
    return code == "EntityAlreadyExists" or (code == "InvalidInput" and "taken" in error_text(error).lower())


def refuses_suffix(error: ClientError) -> bool:
    """The service does not support CustomSuffix
    (https://docs.aws.amazon.com/IAM/latest/APIReference/API_CreateServiceLinkedRole.html)."""
    said = error_text(error).lower()
    return error_code(error) == "InvalidInput" and "suffix" in said and "taken" not in said


def provision_service_linked(iam: BaseClient, request: ServiceLinkedRoleRequest, *, request_id: str) -> ProvisionResult:
    """CreateServiceLinkedRole as approved: a service that refuses the suffix fails the request, since a role
    without it is not what the approver saw."""
    step = request.plan()[0]
    log.info("Request %s: %s", request_id, step.describe())
    started = datetime.now(UTC)
    try:
        role = iam.create_service_linked_role(**step.params)["Role"]
    except ClientError as error:
        if service_role_taken(error):
            role = _made_during_the_call(iam, request, started, error)
        else:
            raise _failure(request, request_id, step, error) from error
    except AWS_ERRORS as error:
        raise _failure(request, request_id, step, error) from error
    log.info("Request %s: role %s is ready", request_id, role["Arn"])
    return ProvisionResult(role_arn=role["Arn"], role_name=role["RoleName"], role_id=role.get("RoleId"))


def _failure(request: ServiceLinkedRoleRequest, request_id: str, step: PlanStep, error: Exception) -> ProvisioningError:
    problem = failed(error, step=step.action, doing=step.doing(), request=request)
    if isinstance(error, ClientError) and request.custom_suffix and refuses_suffix(error):
        problem.message = (
            f"{request.aws_service_name} doesn't accept a custom suffix, so the approved role (suffix "
            f"{request.custom_suffix}) can't be created and nothing was. Request it again without a suffix."
        )
    log.warning("Request %s failed at %s: %s", request_id, step.action, problem.message)
    return problem


def _service_roles(iam: BaseClient, request: ServiceLinkedRoleRequest) -> dict[str, dict[str, Any]]:
    """The service-linked roles of the request's service that exist now, by name."""
    prefix = f"/aws-service-role/{request.aws_service_name}/"
    return {role["RoleName"]: role for role in paginate(iam, "list_roles", "Roles", PathPrefix=prefix)}


def _made_during_the_call(
    iam: BaseClient, request: ServiceLinkedRoleRequest, started: datetime, refusal: ClientError
) -> dict[str, Any]:
    """After AWS said the role exists: the role, if it was created since ``started``; else the refusal, told.

    "The one requested" is one with the same suffix, or one without a suffix when none is asked.
    Nothing was changed, so a problem is told at ``preflight``, as if the bot had looked first.
    """
    try:
        existing = _service_roles(iam, request)
    except AWS_ERRORS as error:
        message = explain(error, doing="check the request", account_id=request.account_id)
        raise ProvisioningError(message, step="preflight", code=error_code(error)) from error
    suffix = request.custom_suffix
    clashes = [role for name, role in existing.items() if (name.endswith(f"_{suffix}") if suffix else "_" not in name)]
    new = [role for role in clashes if role["CreateDate"] >= started]
    if len(new) == 1 and len(clashes) == 1:
        log.info("Role %s appeared during the bot's own call: its lost answer", new[0]["RoleName"])
        return new[0]
    named = [f"The service-linked role {role['RoleName']}" for role in clashes] or ["A service-linked role"]
    message = " ".join(_exists(request, what) for what in named)
    raise ProvisioningError(message, step="preflight", code=error_code(refusal)) from refusal


def _exists(request: ServiceLinkedRoleRequest, what: str) -> str:
    return (
        f"{what} for {request.aws_service_name} already exists in account {request.account_id}. "
        "Service-linked roles carry no tags, so the bot cannot tell whether it made it on an earlier "
        "attempt and does not claim it; the existing role can be used as it is."
    )
