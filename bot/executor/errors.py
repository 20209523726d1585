"""AWS errors in plain words, for the requester and the approver; the executor's one exception."""

import re

from botocore.exceptions import BotoCoreError, ClientError, WaiterError

from bot.domain import AssumableRoleRequest, RoleRequest, policy_size
from bot.domain.limits import over_quota

AWS_ERRORS = (ClientError, BotoCoreError)
THROTTLING_CODES = frozenset({"Throttling", "ThrottlingException", "RequestLimitExceeded", "TooManyRequestsException"})
ACCESS_DENIED_CODES = frozenset({"AccessDenied", "AccessDeniedException", "UnauthorizedOperation"})
STS_OPERATIONS = frozenset({"AssumeRole", "GetCallerIdentity"})
QUOTA_RE = re.compile(r"quota for (\w+): (\d+)")
POLICY_SIZE_RE = re.compile(r"[Mm]aximum policy size of (\d+)")
WAITED_OPERATIONS = {"RoleExists": "GetRole", "InstanceProfileExists": "GetInstanceProfile"}


class ProvisioningError(Exception):
    """The request could not be carried out; ``message`` says why in plain words.

    ``step`` is the plan action that failed, or ``"preflight"`` when nothing was attempted;
    ``code`` is AWS's error code when there is one.
    """

    def __init__(self, message: str, *, step: str, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.step = step
        self.code = code


def error_code(error: Exception) -> str | None:
    """AWS's error code, also when a waiter stopped on an error."""
    if isinstance(error, ClientError):
        return error.response.get("Error", {}).get("Code")
    if isinstance(error, WaiterError):
        return (error.last_response or {}).get("Error", {}).get("Code")
    return None


def error_text(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Message", "")).strip()


def explain_quota(said: str, *, doing: str, request: RoleRequest | AssumableRoleRequest | None) -> str:
    """LimitExceeded in plain words, with the request's own numbers where AWS names the quota."""
    quota = QUOTA_RE.search(said)
    size = POLICY_SIZE_RE.search(said)
    if isinstance(request, AssumableRoleRequest):
        if quota and quota.group(1) == "PoliciesPerRole":
            return over_quota("managed policies", allowed=quota.group(2), has=len(request.managed_policy_arns))
        if quota and quota.group(1) == "ACLSizePerRole":
            return over_quota("trust policy", allowed=quota.group(2), has=policy_size(request.trust_policy()))
        if size and request.inline_policy:
            return over_quota("inline policy", allowed=size.group(1), has=policy_size(request.inline_policy))
    return f"An AWS quota stopped the bot when it tried to {doing}: {said}"


def explain(
    error: Exception, *, doing: str, account_id: str, request: RoleRequest | AssumableRoleRequest | None = None
) -> str:
    """An AWS error in plain words, for the requester and the approver."""
    if isinstance(error, WaiterError):
        if error_code(error):
            operation = WAITED_OPERATIONS.get(error.kwargs.get("name", ""), "GetRole")
            return explain(ClientError(error.last_response, operation), doing=doing, account_id=account_id)
        return f"AWS did not confirm in time that the bot could {doing}; try again later."
    if not isinstance(error, ClientError):
        return f"The bot could not reach AWS when it tried to {doing}: {error}"
    code = error_code(error) or "UnknownError"
    said = error_text(error)
    metadata = error.response.get("ResponseMetadata", {})
    attempts = metadata.get("RetryAttempts", 0) + 1
    if code == "LimitExceeded":
        return explain_quota(said, doing=doing, request=request)
    if code == "MalformedPolicyDocument":
        return f"AWS rejected a policy document as malformed when the bot tried to {doing}: {said}"
    if code == "NoSuchEntity":
        return f"AWS could not find something needed to {doing} in account {account_id}: {said}"
    if code in ("InvalidInput", "ValidationError"):
        return f"AWS refused a value when the bot tried to {doing}: {said}"
    if code == "EntityAlreadyExists":
        return (
            f"It already exists in account {account_id} and was not made by the bot for this request "
            f"(AWS said so when the bot tried to {doing}); the bot did not change it."
        )
    if code in ACCESS_DENIED_CODES:
        service = "sts" if error.operation_name in STS_OPERATIONS else "iam"
        return (
            f"The bot is not allowed to {doing} in account {account_id}: the role it acts as lacks "
            f"{service}:{error.operation_name} (AWS said {code})."
        )
    if code in THROTTLING_CODES:
        return (
            f"AWS kept throttling the bot when it tried to {doing} (attempts: {attempts}); try again in a few minutes."
        )
    if code == "ConcurrentModification":
        return f"Something else was changing IAM at the same time when the bot tried to {doing}; try again."
    if metadata.get("HTTPStatusCode", 0) >= 500:
        return f"AWS IAM failed ({code}; attempts: {attempts}) when the bot tried to {doing}; try again later."
    return f"AWS refused when the bot tried to {doing} ({code}: {said})."


def failed(
    error: Exception, *, step: str, doing: str, request: RoleRequest | AssumableRoleRequest
) -> ProvisioningError:
    """The ``ProvisioningError`` for an AWS error at ``step`` (raise it ``from error``)."""
    message = explain(error, doing=doing, account_id=request.account_id, request=request)
    return ProvisioningError(message, step=step, code=error_code(error))
