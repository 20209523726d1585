"""Links made from a request alone: the AWS console's switch-role link."""

from urllib.parse import quote, urlencode

from bot.domain.models import AssumableRoleRequest, CustomTrustRoleRequest, RoleRequest, UserRoleRequest
from bot.domain.partitions import partition_of

SWITCH_ROLE_MAX_CHARS = 64


def assumable_by_people(request: RoleRequest | AssumableRoleRequest) -> bool:
    """Whether IAM users or roles switch into the role (so a console link makes sense)."""
    if isinstance(request, UserRoleRequest):
        return True
    if isinstance(request, CustomTrustRoleRequest):
        for item in request.trust_statements():
            principal = item.get("Principal")
            actions = item.get("Action", [])
            actions = actions if isinstance(actions, list) else [actions]
            if isinstance(principal, dict) and "AWS" in principal and "sts:AssumeRole" in actions:
                return True
    return False


def switch_role_url(request: RoleRequest | AssumableRoleRequest) -> str | None:
    """The console's switch-role link, when people assume the role and the console can show it.

    The console limits path plus name to 64 characters; the whole path (slashes included) is counted,
    so a link is never given for a role the console would refuse.
    """
    if not isinstance(request, AssumableRoleRequest) or not assumable_by_people(request):
        return None
    if len(request.path) + len(request.role_name) > SWITCH_ROLE_MAX_CHARS:
        return None
    query = {
        "roleName": request.path.lstrip("/") + request.role_name,
        "account": request.account_id,
        "displayName": f"{request.role_name} @ {request.account_id}"[:SWITCH_ROLE_MAX_CHARS],
    }
    base = partition_of(request.partition).switch_role_url
    return f"{base}?{urlencode(query, quote_via=quote, safe='/@')}"
