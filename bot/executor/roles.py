"""Assumable roles (every type but service-linked): survey what exists, apply the plan, roll back.

What the bot creates carries provenance tags, so a re-run of the same request completes the
missing steps, while a same-named role or instance profile it did not make for this request is
reported and never adopted or changed. "Made for this request" takes the request-id tag with the
request's secret nonce (``iam.owner_tag``) and, for a role, its being what the plan makes: trust
policy, path, boundary, session duration, description and policies (a half-made role has a subset
of the plan's policies); anything else fails the request before a single change. A request stored before
nonces (its tag is the bare, guessable id) adopts nothing it finds. On an AWS failure
after CreateRole it deletes what belongs to the request, in the order AWS requires, and reports the
original error in plain words.

Why the look-ups come before CreateRole, although CreateRole could itself tell that the name is
taken (EntityAlreadyExists, then ``survey``) with the other look-ups sent alongside: a pre-check
that then fails (a managed policy changed since it was approved, a provider gone, a quota) would
find a role already made, assumable by the trust policy's principals, for a request that must not
be carried out; rolling it back can fail or be cut short by a crash, and ``preflight`` would no
longer mean "nothing was changed". The gain would be one round trip: the look-ups already go out at
once (``iam.at_once``), so against IAM they cost about one round trip together, the GetRole among
them, and ``bench/RESULTS.md`` shows the bot within 2× the raw plan with IAM-like latency without
it. The waiter stays for the same reason it costs little: its GetRole goes out while the later
steps are made.
"""

import json
import logging
import re
from collections.abc import Callable, Collection
from concurrent.futures import Future, wait
from dataclasses import dataclass, field
from functools import partial
from typing import Any
from urllib.parse import unquote

from botocore.client import BaseClient
from botocore.exceptions import ClientError

from bot.domain import AssumableRoleRequest, OidcRoleRequest, PlanStep, SamlRoleRequest, policy_size
from bot.domain.limits import over_quota
from bot.domain.plan import snake_case
from bot.domain.urls import switch_role_url
from bot.executor.errors import AWS_ERRORS, ProvisioningError, error_code, explain, failed
from bot.executor.iam import (
    REQUEST_ID_TAG,
    ProvisionResult,
    adoptable,
    at_once,
    guessable,
    lookup,
    made_for,
    meanwhile,
    paginate,
    request_of,
    tags_of,
)
from bot.executor.pins import version_changed

log = logging.getLogger(__name__)

ACCOUNT_ID = re.compile(r"[0-9]{12}")


@dataclass
class Progress:
    """What of the request exists in AWS and belongs to it (its tags name the request)."""

    made: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    """What AWS answered for each step already done, by ``PlanStep.makes``."""
    problems: list[str] = field(default_factory=list)

    def role(self, request: AssumableRoleRequest) -> dict[str, Any] | None:
        return self.made.get(("CreateRole", request.role_name))

    def profile(self, request: AssumableRoleRequest) -> dict[str, Any] | None:
        return self.made.get(("CreateInstanceProfile", request.role_name))


def provision_role(
    iam: BaseClient,
    request: AssumableRoleRequest,
    *,
    request_id: str,
    tags: dict[str, str],
    waiter_config: dict[str, int],
) -> ProvisionResult:
    """Carry out the plan, completing an earlier run's; on an AWS error, roll back and raise."""
    owner = tags[REQUEST_ID_TAG]
    progress = survey(iam, request, request_id, owner)
    if progress.problems:
        raise ProvisioningError(" ".join(progress.problems), step="preflight")
    tag_list = [{"Key": key, "Value": value} for key, value in tags.items()]
    plan = request.plan(tags)
    step = plan[0]
    shown: list[tuple[PlanStep, Future[None]]] = []
    try:
        try:
            for step in plan:
                apply(iam, step, progress, request, request_id, tag_list, owner)
                if step.kind.waiter:
                    shown.append((step, meanwhile(partial(_wait_until_shown, iam, step, waiter_config))))
        finally:
            wait([future for _, future in shown])  # nothing of this run is left running, whatever happened
        for made_by, future in shown:
            step = made_by
            future.result()
    except AWS_ERRORS as error:
        problem = failed(error, step=step.action, doing=step.doing(), request=request)
        problem.message += " " + roll_back(iam, request, request_id, owner, made_now=set(progress.made))
        log.warning("Request %s failed at %s: %s", request_id, step.action, problem.message)
        raise problem from error
    role, profile = progress.role(request), progress.profile(request)
    assert role is not None
    log.info("Request %s: role %s is ready", request_id, role["Arn"])
    return ProvisionResult(
        role_arn=role["Arn"],
        role_name=request.role_name,
        instance_profile_arn=profile["Arn"] if profile else None,
        switch_role_url=switch_role_url(request),
        provenance_tags=tags,
        role_id=role["RoleId"],
    )


def _wait_until_shown(iam: BaseClient, step: PlanStep, waiter_config: dict[str, int]) -> None:
    """Wait until IAM shows what ``step`` made (its ``Action.waiter``; IAM is eventually consistent).

    It runs while the later steps are made, which name the role and so cannot need it to show first:
    one round trip less than waiting at the end. A step's own failure is told before a waiter's.
    """
    assert step.kind.waiter is not None and step.kind.made is not None
    made = step.kind.made
    iam.get_waiter(step.kind.waiter).wait(**{made: step.params[made]}, WaiterConfig=waiter_config)


def survey(iam: BaseClient, request: AssumableRoleRequest, request_id: str, owner: str) -> Progress:
    """What already exists of the request, and what would stop it, before anything is changed.

    The lookups are independent reads, so they run at once; what they find is told in this order
    (the role, its instance profile, the policies, the boundary, the provider, the quotas) whatever
    order AWS answers in, and, as when they ran one by one, nothing after the first AWS error is.
    """
    account = request.account_id
    checks: list[Callable[[], Progress]] = [partial(_survey_role, iam, request, request_id, owner)]
    if request.needs_instance_profile:
        checks.append(partial(_survey_profile, iam, request, request_id, owner))
    checks += [partial(_survey_policy, iam, request, arn) for arn in request.managed_policy_arns]
    if request.permissions_boundary_arn:
        boundary = request.permissions_boundary_arn
        problem = f"The permissions boundary {boundary} does not exist in account {account}."
        checks.append(partial(_missing, problem, iam.get_policy, PolicyArn=boundary))
    if isinstance(request, SamlRoleRequest):
        problem = (
            f"The SAML provider {request.provider_arn} does not exist in account {account}; "
            "add it in IAM (Identity providers) first."
        )
        checks.append(partial(_missing, problem, iam.get_saml_provider, SAMLProviderArn=request.provider_arn))
    if isinstance(request, OidcRoleRequest):
        problem = (
            f"The OIDC provider {request.provider_host} is not registered in account {account}; "
            "add it in IAM (Identity providers) first."
        )
        checks.append(
            partial(_missing, problem, iam.get_open_id_connect_provider, OpenIDConnectProviderArn=request.provider_arn)
        )
    checks.append(partial(_survey_quotas, iam, request))
    progress = Progress()
    for outcome in at_once(checks):
        try:
            found = outcome.result()
        except AWS_ERRORS as error:
            progress.problems.append(explain(error, doing="check the request", account_id=account))
            break
        progress.made.update(found.made)
        progress.problems += found.problems
    return progress


def _foreign(kind: str, resource: dict[str, Any], request: AssumableRoleRequest, request_id: str, owner: str) -> str:
    other = tags_of(resource).get(REQUEST_ID_TAG)
    whose = f" (its tag names request {request_of(other)})" if other else ""
    article = "An" if kind[0] in "aeiou" else "A"
    if other == owner and guessable(owner):
        return (
            f"{article} {kind} named {request.role_name} already exists in account {request.account_id} carrying "
            f"request {request_id}'s tag, but that request was stored before the bot's tags held a secret, so anyone "
            f"could have written that tag; the bot will not adopt or change it. Check the existing {kind} and remove "
            "it (or choose another role name), then retry."
        )
    return (
        f"{article} {kind} named {request.role_name} already exists in account {request.account_id} and was not "
        f"made by the bot for request {request_id}{whose}; the bot will not adopt or change it. "
        f"Choose another role name, or remove the existing {kind} first."
    )


def _survey_role(iam: BaseClient, request: AssumableRoleRequest, request_id: str, owner: str) -> Progress:
    name = request.role_name
    found = lookup(iam.get_role, RoleName=name)
    if found and not adoptable(found["Role"], owner):
        return Progress(problems=[_foreign("role", found["Role"], request, request_id, owner)])
    progress = Progress()
    if found:
        attached = paginate(iam, "list_attached_role_policies", "AttachedPolicies", RoleName=name)
        differences = role_differences(iam, found["Role"], attached, request)
        if differences:
            return Progress(
                problems=[
                    f"A role named {name} already exists in account {request.account_id} carrying request "
                    f"{request_id}'s tag, but it is not what was approved: {'; '.join(differences)}. The bot will "
                    "not adopt or change it; remove it (or choose another role name) and submit the request again."
                ]
            )
        progress.made["CreateRole", name] = found["Role"]
        for policy in attached:
            progress.made["AttachRolePolicy", policy["PolicyArn"]] = policy
    return progress


def role_differences(
    iam: BaseClient, role: dict[str, Any], attached: list[dict[str, Any]], request: AssumableRoleRequest
) -> list[str]:
    """How an existing role differs from what the plan makes (empty: it is the plan's, perhaps half made).

    Attached and inline policies may be fewer than planned (an interrupted run attaches them one by
    one), never others; an inline policy of the plan's name must hold the plan's document.
    """
    expected = {
        "trust policy": _comparable_trust(request.trust_policy(), request.partition),
        "path": request.path,
        "permissions boundary": request.permissions_boundary_arn,
        "maximum session duration": request.max_session_duration,
        "description": request.description or None,
    }
    actual = {
        "trust policy": _comparable_trust(_document(role.get("AssumeRolePolicyDocument")), request.partition),
        "path": role.get("Path"),
        "permissions boundary": (role.get("PermissionsBoundary") or {}).get("PermissionsBoundaryArn"),
        "maximum session duration": role.get("MaxSessionDuration"),
        "description": role.get("Description") or None,
    }
    differences = [f"its {what} differs" for what in expected if expected[what] != actual[what]]
    foreign = sorted({policy["PolicyArn"] for policy in attached} - set(request.managed_policy_arns))
    if foreign:
        differences.append("it has managed policies the request doesn't: " + ", ".join(foreign))
    planned = {
        step.params["PolicyName"]: json.loads(step.params["PolicyDocument"])
        for step in request.plan()
        if step.action == "PutRolePolicy"
    }
    for policy_name in paginate(iam, "list_role_policies", "PolicyNames", RoleName=role["RoleName"]):
        if policy_name not in planned:
            differences.append(f"it has an inline policy {policy_name} the request doesn't")
            continue
        document = iam.get_role_policy(RoleName=role["RoleName"], PolicyName=policy_name)["PolicyDocument"]
        if _document(document) != planned[policy_name]:
            differences.append(f"its inline policy {policy_name} differs")
    return differences


def _comparable_trust(document: Any, partition: str) -> Any:
    """A trust policy as IAM may store it: each statement's principals as sorted lists, an account id as its
    root ARN ("the service might convert it to the principal ARN":
    https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_principal.html#principal-accounts)."""
    if not isinstance(document, dict) or not isinstance(document.get("Statement"), list):
        return document

    def principal_arn(value: Any) -> Any:
        return f"arn:{partition}:iam::{value}:root" if isinstance(value, str) and ACCOUNT_ID.fullmatch(value) else value

    statements = []
    for statement in document["Statement"]:
        principal = statement.get("Principal") if isinstance(statement, dict) else None
        if isinstance(principal, dict):
            listed = {kind: sorted(map(str, [v] if isinstance(v, str) else v)) for kind, v in principal.items()}
            listed["AWS"] = sorted(principal_arn(value) for value in listed.get("AWS", []))
            statement = {**statement, "Principal": {kind: values for kind, values in listed.items() if values}}
        statements.append(statement)
    return {**document, "Statement": statements}


def _document(document: Any) -> Any:
    """A policy document as a dict. GetRole and GetRolePolicy return it URL-encoded (RFC 3986) and "some SDKs
    do this decoding automatically" (https://docs.aws.amazon.com/IAM/latest/APIReference/API_GetRolePolicy.html,
    https://docs.aws.amazon.com/IAM/latest/APIReference/API_GetRole.html): boto3 does; a string is decoded here."""
    return json.loads(unquote(document)) if isinstance(document, str) else document


def _survey_profile(iam: BaseClient, request: AssumableRoleRequest, request_id: str, owner: str) -> Progress:
    name = request.role_name
    found = lookup(iam.get_instance_profile, InstanceProfileName=name)
    if found and not adoptable(found["InstanceProfile"], owner):
        return Progress(problems=[_foreign("instance profile", found["InstanceProfile"], request, request_id, owner)])
    progress = Progress()
    if found:
        progress.made["CreateInstanceProfile", name] = found["InstanceProfile"]
        if any(role["RoleName"] == name for role in found["InstanceProfile"].get("Roles", [])):
            progress.made["AddRoleToInstanceProfile", name] = found["InstanceProfile"]
    return progress


def _survey_policy(iam: BaseClient, request: AssumableRoleRequest, arn: str) -> Progress:
    """The managed policy exists, at the version the approver was shown (``pins``)."""
    found = lookup(iam.get_policy, PolicyArn=arn)
    if found is None:
        return Progress(problems=[f"The managed policy {arn} does not exist in account {request.account_id}."])
    changed = version_changed(arn, found["Policy"], request.managed_policy_pins.get(arn))
    return Progress(problems=[changed] if changed else [])


def _missing(problem: str, call: Any, **params: Any) -> Progress:
    """``problem`` if the ``Get…`` call finds nothing."""
    return Progress(problems=[problem] if lookup(call, **params) is None else [])


def _survey_quotas(iam: BaseClient, request: AssumableRoleRequest) -> Progress:
    """The account's real quotas (they are adjustable, so the request's may be out of date)."""
    quotas = iam.get_account_summary()["SummaryMap"]
    problems = []
    managed = quotas.get("AttachedPoliciesPerRoleQuota")
    if managed is not None and len(request.managed_policy_arns) > managed:
        problems.append(over_quota("managed policies", allowed=managed, has=len(request.managed_policy_arns)))
    trust = quotas.get("AssumeRolePolicySizeQuota")
    if trust is not None and policy_size(request.trust_policy()) > trust:
        problems.append(over_quota("trust policy", allowed=trust, has=policy_size(request.trust_policy())))
    inline = quotas.get("RolePolicySizeQuota")
    if inline is not None and request.inline_policy and policy_size(request.inline_policy) > inline:
        problems.append(over_quota("inline policy", allowed=inline, has=policy_size(request.inline_policy)))
    return Progress(problems=problems)


def apply(
    iam: BaseClient,
    step: PlanStep,
    progress: Progress,
    request: AssumableRoleRequest,
    request_id: str,
    tags: list[dict[str, str]],
    owner: str,
) -> None:
    """Run one step unless an earlier run of the request already did it (``bot.domain.plan.ACTIONS``)."""
    if step.makes in progress.made:
        return
    params = {"Tags": tags, **step.params} if step.kind.provenance_tags else step.params
    log.info("Request %s: %s", request_id, step.describe())
    try:
        answer = getattr(iam, step.method)(**params)
    except ClientError as error:
        answer = _own_existing(iam, step, error, owner, request)
    if step.makes is not None:
        progress.made[step.makes] = answer[step.kind.answer] if step.kind.answer else answer


def _own_existing(
    iam: BaseClient, step: PlanStep, error: ClientError, owner: str, request: AssumableRoleRequest
) -> dict[str, Any]:
    """After EntityAlreadyExists (e.g. a retried call whose first answer was lost): the entity if ours.

    Anything else re-raises ``error``. The entity is read back with its ``Get…`` call (GetRole,
    GetInstanceProfile), named like the answer's key.
    """
    answer, made = step.kind.answer, step.kind.made
    if error_code(error) != "EntityAlreadyExists" or answer is None or made is None:
        raise error
    found = getattr(iam, f"get_{snake_case(answer)}")(**{made: step.params[made]})
    if not adoptable(found[answer], owner):
        raise error
    if answer == "Role":
        attached = paginate(iam, "list_attached_role_policies", "AttachedPolicies", RoleName=found["Role"]["RoleName"])
        if role_differences(iam, found["Role"], attached, request):
            raise error
    return found


def roll_back(
    iam: BaseClient,
    request: AssumableRoleRequest,
    request_id: str,
    owner: str,
    *,
    made_now: Collection[tuple[str, str]],
) -> str:
    """Delete the request's role and instance profile in the order AWS requires; say what is left.

    What to delete is looked up in AWS by name and tag, not remembered: a call whose answer was
    lost may have created something all the same. A request without a nonce (``iam.guessable``) deletes
    only what this run's calls answered they made (``made_now``: ``Progress.made``'s keys), since anyone
    could have tagged a role with its bare id.
    """
    name = request.role_name
    left: list[str] = []

    def ours(resource: dict[str, Any] | None, made_by: str) -> bool:
        if resource is None or not made_for(resource, owner):
            return False
        return not guessable(owner) or (made_by, name) in made_now

    def undo(what: str, call: Any, **params: Any) -> None:
        try:
            call(**params)
        except AWS_ERRORS as error:
            if error_code(error) != "NoSuchEntity":
                log.warning("Rollback could not remove %s: %s", what, error)
                left.append(what)

    try:
        role = lookup(iam.get_role, RoleName=name)
        role_ours = ours(role and role["Role"], "CreateRole")
        profile = lookup(iam.get_instance_profile, InstanceProfileName=name) if request.needs_instance_profile else None
        profile_ours = ours(profile and profile["InstanceProfile"], "CreateInstanceProfile")
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
