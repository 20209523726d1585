"""The organisation's guardrails: rules every request must meet, whoever approves it.

``check_guardrails`` is called when a request is submitted (each broken rule is shown next to its
field in the modal) and again just before the role is created, so a request stored before a rule
changed can't slip through. ``apply_guardrails`` adds what the rules add by themselves (the
permissions boundary); call it before ``check_guardrails``.
"""

from collections.abc import Collection
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from bot.domain import CustomTrustRoleRequest, RoleRequest, ServiceLinkedRoleRequest, ServiceRoleRequest
from bot.domain.fields import (
    check_account_id,
    check_name_chars,
    check_path,
    check_policy_arn,
    check_service_principal,
)
from bot.domain.policies import as_list

ACCOUNT_PLACEHOLDER = "{account_id}"
"""In ``required_boundary_arn``: the target account, for a boundary policy kept in every account."""


class Guardrails(BaseModel):
    """Guardrails from the ``[guardrails]`` table of the policy file; empty means no restriction.

    ``forbidden_managed_policies`` lists ARNs or policy names; ``high_risk`` says what a request with
    a high finding takes: ``refuse`` it, or ``require_approvals`` (the number is in ``[approvals]``).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    allowed_accounts: list[str] = []
    role_name_prefix: str | None = None
    required_path: str | None = None
    required_boundary_arn: str | None = None
    forbidden_managed_policies: list[str] = []
    max_session_duration: int | None = Field(default=None, ge=3600, le=43200)
    max_role_days: int | None = Field(default=None, ge=1)
    """Every role must expire within this many days (an account's own ``max_role_days`` replaces it)."""
    allowed_service_principals: list[str] = []
    high_risk: Literal["refuse", "require_approvals"] = "require_approvals"

    @field_validator("allowed_accounts")
    @classmethod
    def _accounts(cls, value: list[str]) -> list[str]:
        return [check_account_id(account) for account in value]

    @field_validator("role_name_prefix")
    @classmethod
    def _prefix(cls, value: str | None) -> str | None:
        return None if value is None else check_name_chars(value, label="Role name prefix", max_length=63)

    @field_validator("required_path")
    @classmethod
    def _path(cls, value: str | None) -> str | None:
        return None if value is None else check_path(value)

    @field_validator("required_boundary_arn")
    @classmethod
    def _boundary(cls, value: str | None) -> str | None:
        if value is not None:
            check_policy_arn(value.replace(ACCOUNT_PLACEHOLDER, "111122223333"))
        return value

    @field_validator("forbidden_managed_policies")
    @classmethod
    def _forbidden(cls, value: list[str]) -> list[str]:
        for item in value:
            if item.startswith("arn:"):
                check_policy_arn(item)
            else:
                check_name_chars(item, label="Forbidden policy name", max_length=128)
        return value

    @field_validator("allowed_service_principals")
    @classmethod
    def _services(cls, value: list[str]) -> list[str]:
        return [check_service_principal(service) for service in value]

    def boundary_for(self, account_id: str) -> str | None:
        """The permissions boundary roles in ``account_id`` must have, if any."""
        if self.required_boundary_arn is None:
            return None
        return self.required_boundary_arn.replace(ACCOUNT_PLACEHOLDER, account_id)


def apply_guardrails(request: RoleRequest, guardrails: Guardrails) -> RoleRequest:
    """The request with the required permissions boundary added when it has none, and the required
    path when it was left at ``/``.

    A copy with just those fields changed: they were checked with the domain's own rules when the
    guardrails were loaded, and re-parsing the whole request would apply today's quotas to it again.
    Service-linked roles have neither and are returned as they are.
    """
    if isinstance(request, ServiceLinkedRoleRequest):
        return request
    update: dict[str, str] = {}
    boundary = guardrails.boundary_for(request.account_id)
    if boundary and not request.permissions_boundary_arn:
        update["permissions_boundary_arn"] = boundary
    if guardrails.required_path and request.path == "/":
        update["path"] = guardrails.required_path
    return request.model_copy(update=update) if update else request


def check_guardrails(
    request: RoleRequest,
    guardrails: Guardrails,
    *,
    configured_accounts: Collection[str] = (),
    max_role_days: int | None = None,
) -> dict[str, str]:
    """Each broken rule as ``{request field: sentence}``; empty when the request meets them all.

    Without ``allowed_accounts``, the target must be one of ``configured_accounts`` (when given).
    ``max_role_days``: the target account's own limit on a role's life, replacing the guardrails' one.
    """
    errors: dict[str, str] = {}

    def refuse(field: str, message: str) -> None:
        errors[field] = f"{errors[field]} {message}" if field in errors else message

    accounts = guardrails.allowed_accounts or list(configured_accounts)
    if accounts and request.account_id not in accounts:
        refuse("account_id", f"Roles can only be requested in these accounts: {', '.join(accounts)}.")
    services = guardrails.allowed_service_principals
    for field, service in trusted_services(request):
        if services and service not in services:
            refuse(field, f"{service} is not one of the AWS services allowed here ({', '.join(services)}).")
    if isinstance(request, ServiceLinkedRoleRequest):
        return errors
    prefix, path = guardrails.role_name_prefix, guardrails.required_path
    if prefix and not request.role_name.startswith(prefix):
        refuse("role_name", f"Role names must start with “{prefix}”.")
    if path and not request.path.startswith(path):
        refuse("path", f"The path must start with {path}, e.g. {path} itself or {path}app/.")
    boundary = guardrails.boundary_for(request.account_id)
    if boundary and request.permissions_boundary_arn != boundary:
        instead = f", not {request.permissions_boundary_arn}" if request.permissions_boundary_arn else ""
        refuse("permissions_boundary_arn", f"Roles must have the permissions boundary {boundary}{instead}.")
    forbidden = [arn for arn in request.managed_policy_arns if is_forbidden(arn, guardrails.forbidden_managed_policies)]
    if forbidden:
        refuse("managed_policy_arns", f"The organisation doesn't allow {', '.join(forbidden)}.")
    days = guardrails.max_role_days if max_role_days is None else max_role_days
    if days and (request.expires_after_days is None or request.expires_after_days > days):
        refuse("expires_after_days", f"Roles in account {request.account_id} must expire within {days} days.")
    limit = guardrails.max_session_duration
    if limit and request.max_session_duration > limit:
        refuse(
            "max_session_duration",
            f"Sessions can last at most {limit} s ({limit / 3600:g} h) here; "
            f"the request asks for {request.max_session_duration} s.",
        )
    return errors


def trusted_services(request: RoleRequest) -> list[tuple[str, str]]:
    """The AWS services a request's role trusts, each with the field that names it."""
    if isinstance(request, ServiceLinkedRoleRequest):
        return [("aws_service_name", request.aws_service_name)]
    if isinstance(request, ServiceRoleRequest):
        return request.principals_by_field()
    if isinstance(request, CustomTrustRoleRequest):
        principals = [statement["Principal"] for statement in request.trust_statements()]
        return [
            ("trust_policy_document", str(service).lower())
            for principal in principals
            if isinstance(principal, dict)
            for service in as_list(principal.get("Service", []))
        ]
    return []


def is_forbidden(arn: str, forbidden: list[str]) -> bool:
    """Whether a policy ARN is listed, by its ARN or by its name (ignoring case, as IAM does for names)."""
    name = arn.rsplit("/", 1)[-1].casefold()
    return any(item.casefold() in (arn.casefold(), name) for item in forbidden)
