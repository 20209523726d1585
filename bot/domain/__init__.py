"""Role requests: validated models, trust policies and plans for every role type in the AWS guide."""

from typing import Any

from pydantic import TypeAdapter, ValidationError

from bot.domain.errors import GENERIC_MESSAGES, RequestInvalid, request_invalid
from bot.domain.fields import Tag
from bot.domain.limits import LENIENT_LIMITS, Limits
from bot.domain.models import (
    AssumableRoleRequest,
    CustomTrustRoleRequest,
    OidcRoleRequest,
    RoleRequest,
    RoleType,
    SamlRoleRequest,
    ServiceLinkedRoleRequest,
    ServiceRoleRequest,
    UserRoleRequest,
)
from bot.domain.plan import PlanStep
from bot.domain.policies import ManagedPolicy, policy_size, to_pretty_json
from bot.domain.services import SERVICE_PRINCIPALS

__all__ = [
    "LENIENT_LIMITS",
    "SERVICE_PRINCIPALS",
    "AssumableRoleRequest",
    "CustomTrustRoleRequest",
    "Limits",
    "ManagedPolicy",
    "OidcRoleRequest",
    "PlanStep",
    "RequestInvalid",
    "RoleRequest",
    "RoleType",
    "SamlRoleRequest",
    "ServiceLinkedRoleRequest",
    "ServiceRoleRequest",
    "Tag",
    "UserRoleRequest",
    "parse_role_request",
    "policy_size",
    "request_from_json",
    "request_to_json",
    "to_pretty_json",
]

ROLE_REQUEST = TypeAdapter(RoleRequest)


def parse_role_request(data: Any, limits: Limits | None = None) -> RoleRequest:
    """Validate raw input (a dict of fields) into a request, or raise ``RequestInvalid``."""
    if isinstance(data, dict) and not isinstance(data.get("role_type", ""), str):
        # pydantic-core reprs an unknown tag for its message, and that fails for e.g. huge integers.
        raise RequestInvalid({"role_type": GENERIC_MESSAGES["union_tag_invalid"]})
    try:
        return ROLE_REQUEST.validate_python(data, context={"limits": limits or Limits()})
    except ValidationError as exc:
        raise request_invalid(exc, data) from None


def request_to_json(request: RoleRequest) -> str:
    """The request as stored: exactly its fields, so it reloads to an equal request."""
    return request.model_dump_json(exclude_defaults=False)


def request_from_json(text: str) -> RoleRequest:
    """Reload a stored request; it was checked when stored, so today's quotas don't apply."""
    return ROLE_REQUEST.validate_json(text, context={"limits": LENIENT_LIMITS})
