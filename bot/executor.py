"""Executor: carries out an approved request's plan in AWS — exactly once, completely, or not at all.

It knows nothing of Slack. ``provision`` first checks that everything the plan refers to exists
(``preflight``), then runs the plan. What it creates carries provenance tags (request id, requester,
approvers), so a re-run of the same request completes the missing steps, while a same-named role or
instance profile it did not make for this request is reported and never adopted or changed. On an
AWS failure after CreateRole it deletes what belongs to the request, in the order AWS requires, and
reports the original error in plain words.

Anything that is not an AWS error (a bug, an interrupt) is not caught: like a crash, it leaves the
work half done, and running the request again finishes it.

Service-linked roles cannot be tagged, so the bot cannot tell whether a service-linked role that
already exists was made by an earlier attempt of the same request. It reports such a role as a
failure rather than claim it: the role is usable as it is, and the audit trail stays truthful.
Only a role that appears while the bot's own CreateServiceLinkedRole call is being retried (its
first answer was lost) is taken as made by the bot.
"""

import logging
import re
from dataclasses import asdict, dataclass, field
from typing import Any
from urllib.parse import quote, urlencode

from botocore.client import BaseClient
from botocore.exceptions import BotoCoreError, ClientError, WaiterError

from bot.aws import AccountSessions
from bot.domain import (
    AssumableRoleRequest,
    CustomTrustRoleRequest,
    OidcRoleRequest,
    PlanStep,
    RoleRequest,
    SamlRoleRequest,
    ServiceLinkedRoleRequest,
    UserRoleRequest,
    policy_size,
)
from bot.domain.fields import is_tag_text

log = logging.getLogger(__name__)

PROVENANCE_KEYS = ("iam-role-bot:request-id", "iam-role-bot:requester", "iam-role-bot:approvers")
"""Tag keys for the request id, the requester and the approvers (space-separated)."""
SWITCH_ROLE_URL = "https://signin.aws.amazon.com/switchrole"
SWITCH_ROLE_MAX_CHARS = 64
AWS_ERRORS = (ClientError, BotoCoreError)
THROTTLING_CODES = frozenset({"Throttling", "ThrottlingException", "RequestLimitExceeded", "TooManyRequestsException"})
ACCESS_DENIED_CODES = frozenset({"AccessDenied", "AccessDeniedException", "UnauthorizedOperation"})
STS_OPERATIONS = frozenset({"AssumeRole", "GetCallerIdentity"})
QUOTA_RE = re.compile(r"quota for (\w+): (\d+)")
POLICY_SIZE_RE = re.compile(r"[Mm]aximum policy size of (\d+)")


@dataclass(frozen=True)
class ProvisionResult:
    """What was created: the role, its instance profile (EC2) and the console switch-role link."""

    role_arn: str
    role_name: str
    instance_profile_arn: str | None = None
    switch_role_url: str | None = None

    def to_dict(self) -> dict[str, str | None]:
        return asdict(self)


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


WAITED_OPERATIONS = {"RoleExists": "GetRole", "InstanceProfileExists": "GetInstanceProfile"}


def error_code(error: Exception) -> str | None:
    """AWS's error code, also when a waiter stopped on an error."""
    if isinstance(error, ClientError):
        return error.response.get("Error", {}).get("Code")
    if isinstance(error, WaiterError):
        return (error.last_response or {}).get("Error", {}).get("Code")
    return None


def error_text(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Message", "")).strip()


def lookup(call: Any, **params: Any) -> dict[str, Any] | None:
    """The answer of a Get* call, or None when AWS says NoSuchEntity."""
    try:
        return call(**params)
    except ClientError as error:
        if error_code(error) == "NoSuchEntity":
            return None
        raise


def paginate(iam: BaseClient, method: str, key: str, **params: Any) -> list[Any]:
    """Every item under ``key`` of a paginated IAM list call."""
    return [item for page in iam.get_paginator(method).paginate(**params) for item in page[key]]


def tags_of(resource: dict[str, Any]) -> dict[str, str]:
    return {tag["Key"]: tag["Value"] for tag in resource.get("Tags", [])}


def doing(step: PlanStep) -> str:
    """What a step does, as the end of "the bot tried to …"."""
    params = step.params
    return {
        "CreateRole": f"create the role {params.get('RoleName')}",
        "AttachRolePolicy": f"attach the managed policy {params.get('PolicyArn')}",
        "PutRolePolicy": f"put the inline policy {params.get('PolicyName')}",
        "CreateInstanceProfile": f"create the instance profile {params.get('InstanceProfileName')}",
        "AddRoleToInstanceProfile": f"add the role to the instance profile {params.get('InstanceProfileName')}",
        "CreateServiceLinkedRole": f"create the service-linked role for {params.get('AWSServiceName')}",
    }.get(step.action, step.describe())


def explain_quota(said: str, *, doing: str, request: RoleRequest | None) -> str:
    """LimitExceeded in plain words, with the request's own numbers where AWS names the quota."""
    quota = QUOTA_RE.search(said)
    size = POLICY_SIZE_RE.search(said)
    if isinstance(request, AssumableRoleRequest):
        if quota and quota.group(1) == "PoliciesPerRole":
            return (
                f"This account allows {quota.group(2)} managed policies per role; "
                f"the request has {len(request.managed_policy_arns)}."
            )
        if quota and quota.group(1) == "ACLSizePerRole":
            return (
                f"This account allows trust policies of {quota.group(2)} characters (not counting spaces); "
                f"the request's has {policy_size(request.trust_policy())}."
            )
        if size and request.inline_policy:
            return (
                f"This account allows {size.group(1)} characters (not counting spaces) of inline policy per "
                f"role; the request's has {policy_size(request.inline_policy)}."
            )
    return f"An AWS quota stopped the bot when it tried to {doing}: {said}"


def explain(error: Exception, *, doing: str, account_id: str, request: RoleRequest | None = None) -> str:
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


def service_role_taken(error: Exception) -> bool:
    """CreateServiceLinkedRole's "already exists" (AWS: InvalidInput "… has been taken …")."""
    if not isinstance(error, ClientError):
        return False
    code = error_code(error)
    return code == "EntityAlreadyExists" or (code == "InvalidInput" and "taken" in error_text(error).lower())


def refuses_suffix(error: ClientError) -> bool:
    """The service does not support CustomSuffix (AWS documents: try again without it)."""
    said = error_text(error).lower()
    return error_code(error) == "InvalidInput" and "suffix" in said and "taken" not in said


def assumable_by_people(request: RoleRequest) -> bool:
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


def switch_role_url(request: RoleRequest) -> str | None:
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
    return f"{SWITCH_ROLE_URL}?{urlencode(query, quote_via=quote, safe='/@')}"


@dataclass
class Progress:
    """What of the request exists in AWS and belongs to it (its tags name the request)."""

    role: dict[str, Any] | None = None
    attached: set[str] = field(default_factory=set)
    profile: dict[str, Any] | None = None
    role_in_profile: bool = False
    problems: list[str] = field(default_factory=list)


class Executor:
    """Creates approved roles in their target accounts."""

    def __init__(
        self,
        sessions: AccountSessions,
        *,
        waiter_delay: float = 1,
        waiter_max_attempts: int = 20,
        provenance_keys: tuple[str, str, str] = PROVENANCE_KEYS,
    ) -> None:
        self.sessions = sessions
        self.waiter_config = {"Delay": waiter_delay, "MaxAttempts": waiter_max_attempts}
        self.provenance_keys = provenance_keys

    def provenance_tags(self, request_id: str, requester: str, approvers: list[str]) -> dict[str, str]:
        """The tags that mark a role as made by the bot for this request; values fit AWS's tag rules."""
        values = (request_id, requester, " ".join(approvers))
        for key, value in zip(self.provenance_keys, values, strict=True):
            if len(value) > 256 or not is_tag_text(value):
                raise ValueError(f"{value!r} can't be the value of tag {key}: AWS's tag rules forbid it")
        return dict(zip(self.provenance_keys, values, strict=True))

    def preflight(self, request: RoleRequest, *, request_id: str) -> list[str]:
        """Problems that would stop the request, in plain words (empty: it can go ahead)."""
        try:
            iam = self._client(request, request_id)
        except ProvisioningError as error:
            return [error.message]
        if isinstance(request, ServiceLinkedRoleRequest):
            return self._survey_service_linked(iam, request)[1]
        return self._survey(iam, request, request_id).problems

    def provision(
        self, request: RoleRequest, *, request_id: str, requester: str, approvers: list[str]
    ) -> ProvisionResult:
        """Carry out the request's plan; raise ``ProvisioningError`` with nothing left behind."""
        tags = self.provenance_tags(request_id, requester, approvers)
        iam = self._client(request, request_id)
        if isinstance(request, ServiceLinkedRoleRequest):
            return self._provision_service_linked(iam, request, request_id)
        progress = self._survey(iam, request, request_id)
        if progress.problems:
            raise ProvisioningError(" ".join(progress.problems), step="preflight")
        tag_list = [{"Key": key, "Value": value} for key, value in tags.items()]
        plan = request.plan(tags)
        step = plan[0]
        try:
            for step in plan:
                self._apply(iam, step, progress, request_id, tag_list)
            step = plan[0]
            iam.get_waiter("role_exists").wait(RoleName=request.role_name, WaiterConfig=self.waiter_config)
            if progress.profile is not None:
                step = next(item for item in plan if item.action == "CreateInstanceProfile")
                iam.get_waiter("instance_profile_exists").wait(
                    InstanceProfileName=request.role_name, WaiterConfig=self.waiter_config
                )
        except AWS_ERRORS as error:
            message = explain(error, doing=doing(step), account_id=request.account_id, request=request)
            message += " " + self._roll_back(iam, request, request_id)
            log.warning("Request %s failed at %s: %s", request_id, step.action, message)
            raise ProvisioningError(message, step=step.action, code=error_code(error)) from error
        assert progress.role is not None
        log.info("Request %s: role %s is ready", request_id, progress.role["Arn"])
        return ProvisionResult(
            role_arn=progress.role["Arn"],
            role_name=request.role_name,
            instance_profile_arn=progress.profile["Arn"] if progress.profile else None,
            switch_role_url=switch_role_url(request),
        )

    def _client(self, request: RoleRequest, request_id: str) -> BaseClient:
        try:
            return self.sessions.iam_client(request.account_id, session_name=f"iam-role-bot-{request_id}")
        except AWS_ERRORS as error:
            message = explain(error, doing="act in the account", account_id=request.account_id)
            raise ProvisioningError(message, step="preflight", code=error_code(error)) from error

    def _ours(self, resource: dict[str, Any], request_id: str) -> bool:
        return tags_of(resource).get(self.provenance_keys[0]) == request_id

    def _foreign(self, kind: str, resource: dict[str, Any], request: AssumableRoleRequest, request_id: str) -> str:
        other = tags_of(resource).get(self.provenance_keys[0])
        whose = f" (it was made for request {other})" if other else ""
        article = "An" if kind[0] in "aeiou" else "A"
        return (
            f"{article} {kind} named {request.role_name} already exists in account {request.account_id} and was not "
            f"made by the bot for request {request_id}{whose}; the bot will not adopt or change it. "
            f"Choose another role name, or remove the existing {kind} first."
        )

    def _survey(self, iam: BaseClient, request: AssumableRoleRequest, request_id: str) -> Progress:
        """What already exists of the request, and what would stop it, before anything is changed."""
        progress = Progress()
        try:
            self._survey_role(iam, request, request_id, progress)
            self._survey_references(iam, request, progress)
            self._survey_quotas(iam, request, progress)
        except AWS_ERRORS as error:
            progress.problems.append(explain(error, doing="check the request", account_id=request.account_id))
        return progress

    def _survey_role(self, iam: BaseClient, request: AssumableRoleRequest, request_id: str, progress: Progress) -> None:
        found = lookup(iam.get_role, RoleName=request.role_name)
        if found and not self._ours(found["Role"], request_id):
            progress.problems.append(self._foreign("role", found["Role"], request, request_id))
        elif found:
            progress.role = found["Role"]
            attached = paginate(iam, "list_attached_role_policies", "AttachedPolicies", RoleName=request.role_name)
            progress.attached = {policy["PolicyArn"] for policy in attached}
        if not request.needs_instance_profile:
            return
        profile = lookup(iam.get_instance_profile, InstanceProfileName=request.role_name)
        if profile and not self._ours(profile["InstanceProfile"], request_id):
            progress.problems.append(self._foreign("instance profile", profile["InstanceProfile"], request, request_id))
        elif profile:
            progress.profile = profile["InstanceProfile"]
            progress.role_in_profile = any(
                role["RoleName"] == request.role_name for role in progress.profile.get("Roles", [])
            )

    def _survey_references(self, iam: BaseClient, request: AssumableRoleRequest, progress: Progress) -> None:
        account = request.account_id
        for arn in request.managed_policy_arns:
            if lookup(iam.get_policy, PolicyArn=arn) is None:
                progress.problems.append(f"The managed policy {arn} does not exist in account {account}.")
        boundary = request.permissions_boundary_arn
        if boundary and lookup(iam.get_policy, PolicyArn=boundary) is None:
            progress.problems.append(f"The permissions boundary {boundary} does not exist in account {account}.")
        if isinstance(request, SamlRoleRequest) and not lookup(
            iam.get_saml_provider, SAMLProviderArn=request.provider_arn
        ):
            progress.problems.append(
                f"The SAML provider {request.provider_arn} does not exist in account {account}; "
                "add it in IAM (Identity providers) first."
            )
        if isinstance(request, OidcRoleRequest) and not lookup(
            iam.get_open_id_connect_provider, OpenIDConnectProviderArn=request.provider_arn
        ):
            progress.problems.append(
                f"The OIDC provider {request.provider_host} is not registered in account {account}; "
                "add it in IAM (Identity providers) first."
            )

    def _survey_quotas(self, iam: BaseClient, request: AssumableRoleRequest, progress: Progress) -> None:
        """The account's real quotas (they are adjustable, so the request's may be out of date)."""
        quotas = iam.get_account_summary()["SummaryMap"]
        managed = quotas.get("AttachedPoliciesPerRoleQuota")
        if managed is not None and len(request.managed_policy_arns) > managed:
            progress.problems.append(
                f"This account allows {managed} managed policies per role; "
                f"the request has {len(request.managed_policy_arns)}."
            )
        trust = quotas.get("AssumeRolePolicySizeQuota")
        if trust is not None and policy_size(request.trust_policy()) > trust:
            progress.problems.append(
                f"This account allows trust policies of {trust} characters (not counting spaces); "
                f"the request's has {policy_size(request.trust_policy())}."
            )
        inline = quotas.get("RolePolicySizeQuota")
        if inline is not None and request.inline_policy and policy_size(request.inline_policy) > inline:
            progress.problems.append(
                f"This account allows {inline} characters (not counting spaces) of inline policy per role; "
                f"the request's has {policy_size(request.inline_policy)}."
            )

    def _apply(
        self,
        iam: BaseClient,
        step: PlanStep,
        progress: Progress,
        request_id: str,
        tags: list[dict[str, str]],
    ) -> None:
        """Run one step unless an earlier run of the request already did it."""
        params = step.params
        match step.action:
            case "CreateRole" if progress.role is not None:
                return
            case "AttachRolePolicy" if params["PolicyArn"] in progress.attached:
                return
            case "CreateInstanceProfile" if progress.profile is not None:
                return
            case "CreateInstanceProfile":
                params = {"Tags": tags, **params}
            case "AddRoleToInstanceProfile" if progress.role_in_profile:
                return
        log.info("Request %s: %s", request_id, step.describe())
        try:
            answer = getattr(iam, step.method)(**params)
        except ClientError as error:
            answer = self._own_existing(iam, step, error, request_id)
        match step.action:
            case "CreateRole":
                progress.role = answer["Role"]
            case "AttachRolePolicy":
                progress.attached.add(params["PolicyArn"])
            case "CreateInstanceProfile":
                progress.profile = answer["InstanceProfile"]
            case "AddRoleToInstanceProfile":
                progress.role_in_profile = True

    def _own_existing(self, iam: BaseClient, step: PlanStep, error: ClientError, request_id: str) -> dict[str, Any]:
        """After EntityAlreadyExists (e.g. a retried call whose first answer was lost): the entity if ours.

        Anything else re-raises ``error``.
        """
        if error_code(error) != "EntityAlreadyExists":
            raise error
        if step.action == "CreateRole":
            found = iam.get_role(RoleName=step.params["RoleName"])
            if self._ours(found["Role"], request_id):
                return found
        if step.action == "CreateInstanceProfile":
            found = iam.get_instance_profile(InstanceProfileName=step.params["InstanceProfileName"])
            if self._ours(found["InstanceProfile"], request_id):
                return found
        raise error

    def _roll_back(self, iam: BaseClient, request: AssumableRoleRequest, request_id: str) -> str:
        """Delete the request's role and instance profile in the order AWS requires; say what is left.

        What to delete is looked up in AWS by name and tag, not remembered: a call whose answer was
        lost may have created something all the same.
        """
        name = request.role_name
        left: list[str] = []

        def undo(what: str, call: Any, **params: Any) -> None:
            try:
                call(**params)
            except AWS_ERRORS as error:
                if error_code(error) != "NoSuchEntity":
                    log.warning("Rollback could not remove %s: %s", what, error)
                    left.append(what)

        try:
            role = lookup(iam.get_role, RoleName=name)
            role_ours = role is not None and self._ours(role["Role"], request_id)
            profile = (
                lookup(iam.get_instance_profile, InstanceProfileName=name) if request.needs_instance_profile else None
            )
            profile_ours = profile is not None and self._ours(profile["InstanceProfile"], request_id)
            profiles = attached = inline = []
            if role_ours:
                profiles = paginate(iam, "list_instance_profiles_for_role", "InstanceProfiles", RoleName=name)
                attached = paginate(iam, "list_attached_role_policies", "AttachedPolicies", RoleName=name)
                inline = paginate(iam, "list_role_policies", "PolicyNames", RoleName=name)
        except AWS_ERRORS as error:
            log.warning("Rollback could not look up what request %s made: %s", request_id, error)
            return f"The bot could not check what it had made; the role {name} may still be there. Remove it by hand."
        for item in profiles:
            undo(
                f"the role in instance profile {item['InstanceProfileName']}",
                iam.remove_role_from_instance_profile,
                InstanceProfileName=item["InstanceProfileName"],
                RoleName=name,
            )
        if profile_ours:
            undo(f"the instance profile {name}", iam.delete_instance_profile, InstanceProfileName=name)
        for item in attached:
            arn = item["PolicyArn"]
            undo(f"the managed policy {arn}", iam.detach_role_policy, RoleName=name, PolicyArn=arn)
        for policy_name in inline:
            undo(f"the inline policy {policy_name}", iam.delete_role_policy, RoleName=name, PolicyName=policy_name)
        if role_ours:
            undo(f"the role {name}", iam.delete_role, RoleName=name)
        if left:
            return f"The bot could not undo everything; still there: {', '.join(left)}. Remove them by hand."
        if role_ours or profile_ours:
            return "The bot removed what it had made; nothing is left behind."
        return "The bot had made nothing, so nothing is left behind."

    def _service_roles(self, iam: BaseClient, request: ServiceLinkedRoleRequest) -> dict[str, dict[str, Any]]:
        """The service-linked roles of the request's service that exist now, by name."""
        prefix = f"/aws-service-role/{request.aws_service_name}/"
        return {role["RoleName"]: role for role in paginate(iam, "list_roles", "Roles", PathPrefix=prefix)}

    def _survey_service_linked(
        self, iam: BaseClient, request: ServiceLinkedRoleRequest
    ) -> tuple[dict[str, dict[str, Any]], list[str]]:
        """The service's service-linked roles, and the problem if the one requested already exists.

        "The one requested" is one with the same suffix, or one without a suffix when none is asked.
        """
        try:
            existing = self._service_roles(iam, request)
        except AWS_ERRORS as error:
            return {}, [explain(error, doing="check the request", account_id=request.account_id)]
        suffix = request.custom_suffix
        clashes = [name for name in existing if (name.endswith(f"_{suffix}") if suffix else "_" not in name)]
        return existing, [self._service_role_exists(request, f"The service-linked role {name}") for name in clashes]

    @staticmethod
    def _service_role_exists(request: ServiceLinkedRoleRequest, what: str) -> str:
        return (
            f"{what} for {request.aws_service_name} already exists in account {request.account_id}. "
            "Service-linked roles carry no tags, so the bot cannot tell whether it made it on an earlier "
            "attempt and does not claim it; the existing role can be used as it is."
        )

    def _provision_service_linked(
        self, iam: BaseClient, request: ServiceLinkedRoleRequest, request_id: str
    ) -> ProvisionResult:
        """CreateServiceLinkedRole, again without the suffix if the service refuses suffixes."""
        step = request.plan()[0]
        log.info("Request %s: %s", request_id, step.describe())
        before, problems = self._survey_service_linked(iam, request)
        if problems:
            raise ProvisioningError(" ".join(problems), step="preflight")
        params = dict(step.params)
        try:
            try:
                role = self._create_service_linked(iam, request, params, before)
            except ClientError as error:
                if "CustomSuffix" not in params or not refuses_suffix(error):
                    raise
                log.info("%s refuses custom suffixes; creating its role without one", request.aws_service_name)
                del params["CustomSuffix"]
                role = self._create_service_linked(iam, request, params, before)
            iam.get_waiter("role_exists").wait(RoleName=role["RoleName"], WaiterConfig=self.waiter_config)
        except AWS_ERRORS as error:
            if service_role_taken(error):
                message = self._service_role_exists(request, "A service-linked role")
            else:
                message = explain(error, doing=doing(step), account_id=request.account_id, request=request)
            log.warning("Request %s failed at %s: %s", request_id, step.action, message)
            raise ProvisioningError(message, step=step.action, code=error_code(error)) from error
        log.info("Request %s: role %s is ready", request_id, role["Arn"])
        return ProvisionResult(role_arn=role["Arn"], role_name=role["RoleName"])

    def _create_service_linked(
        self,
        iam: BaseClient,
        request: ServiceLinkedRoleRequest,
        params: dict[str, Any],
        before: dict[str, dict[str, Any]],
    ) -> dict[str, Any]:
        """One CreateServiceLinkedRole; "already exists" is success only for a role new since ``before``."""
        try:
            return iam.create_service_linked_role(**params)["Role"]
        except ClientError as error:
            if not service_role_taken(error):
                raise
            new = [role for name, role in self._service_roles(iam, request).items() if name not in before]
            if len(new) != 1:
                raise
            return new[0]
