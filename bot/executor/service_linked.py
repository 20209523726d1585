"""Service-linked roles: CreateServiceLinkedRole exactly as approved (a refused suffix fails the request).

Service-linked roles cannot be tagged, so the bot cannot tell whether a service-linked role that
already exists was made by an earlier attempt of the same request. It reports such a role as a
failure rather than claim it: the role is usable as it is, and the audit trail stays truthful.
Only a role that appears while the bot's own CreateServiceLinkedRole call is being retried (its
first answer was lost) is taken as made by the bot.
"""

import logging
from typing import Any

from botocore.client import BaseClient
from botocore.exceptions import ClientError

from bot.domain import ServiceLinkedRoleRequest
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


def provision_service_linked(
    iam: BaseClient, request: ServiceLinkedRoleRequest, *, request_id: str, waiter_config: dict[str, int]
) -> ProvisionResult:
    """CreateServiceLinkedRole as approved: a service that refuses the suffix fails the request, since a role
    without it is not what the approver saw."""
    step = request.plan()[0]
    log.info("Request %s: %s", request_id, step.describe())
    before, problems = survey(iam, request)
    if problems:
        raise ProvisioningError(" ".join(problems), step="preflight")
    params = dict(step.params)
    try:
        role = _create(iam, request, params, before)
        iam.get_waiter("role_exists").wait(RoleName=role["RoleName"], WaiterConfig=waiter_config)
    except AWS_ERRORS as error:
        problem = failed(error, step=step.action, doing=step.doing(), request=request)
        if isinstance(error, ClientError) and request.custom_suffix and refuses_suffix(error):
            problem.message = (
                f"{request.aws_service_name} doesn't accept a custom suffix, so the approved role (suffix "
                f"{request.custom_suffix}) can't be created and nothing was. Request it again without a suffix."
            )
        elif service_role_taken(error):
            problem.message = _exists(request, "A service-linked role")
        log.warning("Request %s failed at %s: %s", request_id, step.action, problem.message)
        raise problem from error
    log.info("Request %s: role %s is ready", request_id, role["Arn"])
    return ProvisionResult(role_arn=role["Arn"], role_name=role["RoleName"])


def _service_roles(iam: BaseClient, request: ServiceLinkedRoleRequest) -> dict[str, dict[str, Any]]:
    """The service-linked roles of the request's service that exist now, by name."""
    prefix = f"/aws-service-role/{request.aws_service_name}/"
    return {role["RoleName"]: role for role in paginate(iam, "list_roles", "Roles", PathPrefix=prefix)}


def survey(iam: BaseClient, request: ServiceLinkedRoleRequest) -> tuple[dict[str, dict[str, Any]], list[str]]:
    """The service's service-linked roles, and the problem if the one requested already exists.

    "The one requested" is one with the same suffix, or one without a suffix when none is asked.
    """
    try:
        existing = _service_roles(iam, request)
    except AWS_ERRORS as error:
        return {}, [explain(error, doing="check the request", account_id=request.account_id)]
    suffix = request.custom_suffix
    clashes = [name for name in existing if (name.endswith(f"_{suffix}") if suffix else "_" not in name)]
    return existing, [_exists(request, f"The service-linked role {name}") for name in clashes]


def _exists(request: ServiceLinkedRoleRequest, what: str) -> str:
    return (
        f"{what} for {request.aws_service_name} already exists in account {request.account_id}. "
        "Service-linked roles carry no tags, so the bot cannot tell whether it made it on an earlier "
        "attempt and does not claim it; the existing role can be used as it is."
    )


def _create(
    iam: BaseClient, request: ServiceLinkedRoleRequest, params: dict[str, Any], before: dict[str, dict[str, Any]]
) -> dict[str, Any]:
    """One CreateServiceLinkedRole; "already exists" is success only for a role new since ``before``."""
    try:
        return iam.create_service_linked_role(**params)["Role"]
    except ClientError as error:
        if not service_role_taken(error):
            raise
        new = [role for name, role in _service_roles(iam, request).items() if name not in before]
        if len(new) != 1:
            raise
        return new[0]
