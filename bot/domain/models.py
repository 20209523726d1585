"""Role request models: one variant per role type of the AWS guide "IAM role creation".

Each variant validates its fields against AWS's real limits, builds its trust policy and renders
its summary and plan. Quotas come from the validation context (``{"limits": Limits(...)}``).
"""

import re
from enum import StrEnum
from typing import Annotated, Any, ClassVar, Literal, Self

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from bot.domain.fields import (
    PARTITION,
    AccountId,
    Description,
    ExternalId,
    PolicyArn,
    PrincipalArn,
    RoleName,
    RolePath,
    ServicePrincipal,
    Tag,
    blank_to_none,
    check_name_chars,
    check_tags,
    field_error,
    parse_tags,
    rule_error,
    split_list,
    unique,
)
from bot.domain.github import has_wildcard, pins_owner_or_repository
from bot.domain.limits import Limits, over_quota
from bot.domain.partitions import DEFAULT_PARTITION, PartitionName, arn_partition, partition_of
from bot.domain.plan import PlanStep
from bot.domain.policies import (
    POLICY_VERSION,
    as_list,
    check_no_policy_variables,
    check_permissions_policy,
    check_policy_chars,
    check_trust_policy,
    check_trust_size,
    parse_document,
    to_json,
)
from bot.domain.services import CONFUSED_DEPUTY_DOC, EC2_PRINCIPALS, service_linked_role_name, service_trust
from bot.domain.webidentity import (
    COGNITO,
    COGNITO_AMR_CHOICES,
    COGNITO_POOL_ID_RE,
    WEB_IDENTITY_PROVIDERS,
    WebIdentityProvider,
)

SAML_AUDIENCE = partition_of(DEFAULT_PARTITION).saml_audience
EXPIRY_DAYS = (1, 7, 30, 90)
"""The lives a time-limited role may have, in days."""
ROLE_CHAINING_DOC = (
    "https://docs.aws.amazon.com/IAM/latest/UserGuide/id_roles_terms-and-concepts.html#iam-term-role-chaining"
)
GITHUB_OIDC_HOST = "token.actions.githubusercontent.com"
STS_AUDIENCE = "sts.amazonaws.com"
SAML_PROVIDER_RE = re.compile(rf"arn:{PARTITION}:iam::([0-9]{{12}}):saml-provider/[A-Za-z0-9+=,.@_-]{{1,128}}")
OIDC_PROVIDER_RE = re.compile(
    rf"arn:{PARTITION}:iam::([0-9]{{12}}):oidc-provider/([A-Za-z0-9.:_-]+(?:/[A-Za-z0-9.:_-]+)*)"
)
OIDC_HOST_RE = re.compile(r"[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+(?:/[A-Za-z0-9._/-]*)?")
GITHUB_REPO_RE = re.compile(r"[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+")
SOURCE_ARN_RE = re.compile(rf"arn:{PARTITION}:[a-z0-9-]+:[a-z0-9-]*:([0-9]{{12}}|\*)?:[\x21-\x7E]+")

Justification = Annotated[str, BeforeValidator(blank_to_none)]
OptionalText = Annotated[str | None, BeforeValidator(blank_to_none)]
TextList = Annotated[list[str], BeforeValidator(split_list)]


class RoleType(StrEnum):
    """The role types of the AWS guide, as the bot names them (``/iam-role TYPE``)."""

    USER = "user"
    SERVICE = "service"
    SERVICE_LINKED = "service-linked"
    SAML = "saml"
    OIDC = "oidc"
    CUSTOM = "custom"


def limits_of(info: ValidationInfo) -> Limits:
    context = info.context if isinstance(info.context, dict) else {}
    limits = context.get("limits")
    return limits if isinstance(limits, Limits) else Limits()


def statement(principal: dict[str, Any], action: str | list[str], condition: dict[str, Any]) -> dict[str, Any]:
    """One trust statement, with its Condition only when there is one."""
    result: dict[str, Any] = {"Effect": "Allow", "Principal": principal, "Action": action}
    if condition:
        result["Condition"] = condition
    return result


def one_or_many(values: list[str]) -> str | list[str]:
    return values[0] if len(values) == 1 else values


def github_repo_part(subject: str) -> str:
    """``ORG/REPO`` of a GitHub subject like ``repo:ORG/REPO:ref:refs/heads/main``."""
    kind, _, rest = subject.partition(":")
    return rest.split(":", 1)[0] if kind == "repo" else subject


def subject_condition(key: str, subjects: list[str]) -> dict[str, Any]:
    """All subjects under one operator: ``StringLike`` as soon as one is a pattern (a literal still matches
    exactly there), since AWS ANDs different operators and ``StringEquals sub=A`` plus ``StringLike sub=B*``
    would match no token at all
    (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-logic-multiple-context-keys-or-values.html).
    """
    operator = "StringLike" if any(has_wildcard(subject) for subject in subjects) else "StringEquals"
    return {operator: {key: one_or_many(subjects)}}


def merge_conditions(*conditions: dict[str, Any]) -> dict[str, Any]:
    """One Condition block from several, keys of the same operator side by side."""
    merged: dict[str, Any] = {}
    for condition in conditions:
        for operator, keys in condition.items():
            merged.setdefault(operator, {}).update(keys)
    return merged


def partition_mismatch(field: str, arn: str, partition: str) -> PydanticCustomError | None:
    """An error for ``arn`` of another partition than the bot's (a role can't trust across partitions)."""
    found = arn_partition(arn)
    if found is None or found == partition:
        return None
    return field_error(
        field,
        f"“{arn}” is in partition {found}, but the bot works in {partition}: "
        "a role can only name ARNs of its own partition.",
    )


class RoleRequestBase(BaseModel):
    """What every request has: the target account and the requester's reason."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    account_id: AccountId
    justification: Justification
    partition: PartitionName = DEFAULT_PARTITION
    """The bot's own partition (set by the bot from sts:GetCallerIdentity, never by the requester)."""

    @field_validator("justification")
    @classmethod
    def _justification(cls, value: str) -> str:
        if len(value) > 2000:
            raise rule_error("Justification can be at most 2000 characters.")
        return value

    @property
    def display_name(self) -> str:
        raise NotImplementedError

    def trust_policy(self) -> dict[str, Any] | None:
        raise NotImplementedError

    def summary(self) -> str:
        raise NotImplementedError

    def plan(self, provenance_tags: dict[str, str] | None = None) -> list[PlanStep]:
        raise NotImplementedError


class AssumableRoleRequest(RoleRequestBase):
    """A role with a trust policy and permissions chosen by the requester (all but service-linked)."""

    trust_field: ClassVar[str] = "role_name"
    """The field an over-quota trust policy is reported on."""

    role_name: RoleName
    path: RolePath = "/"
    description: Description = ""
    max_session_duration: int = 3600
    expires_after_days: Annotated[int | None, BeforeValidator(blank_to_none)] = None
    """The bot deletes the role this many days after creating it (``EXPIRY_DAYS``); None: it stays."""
    managed_policy_arns: Annotated[list[PolicyArn], BeforeValidator(split_list)] = []
    inline_policy: Annotated[
        dict[str, Any] | None,
        BeforeValidator(lambda v: parse_document(v, label="Inline policy")),
    ] = None
    permissions_boundary_arn: Annotated[PolicyArn | None, BeforeValidator(blank_to_none)] = None
    tags: Annotated[list[Tag], BeforeValidator(parse_tags)] = []
    managed_policy_pins: dict[str, str] = {}
    """Each managed policy's id and default version when it was reviewed (``policy_pin``), set by the
    bot, never by the form: the role is created only while these are still what the ARNs name."""

    @field_validator("max_session_duration")
    @classmethod
    def _max_session(cls, value: int) -> int:
        if not 3600 <= value <= 43200:
            # Python can't print integers of thousands of digits; don't try to show those.
            got = f"; got {value} s" if abs(value) < 10**12 else ""
            raise rule_error(f"Maximum session duration must be between 3600 s (1 hour) and 43200 s (12 hours){got}.")
        return value

    @field_validator("expires_after_days")
    @classmethod
    def _expiry(cls, value: int | None) -> int | None:
        if value is not None and value not in EXPIRY_DAYS:
            raise rule_error(f"A role can expire after {', '.join(map(str, EXPIRY_DAYS))} days, or never.")
        return value

    @field_validator("managed_policy_arns")
    @classmethod
    def _managed_policies(cls, value: list[str], info: ValidationInfo) -> list[str]:
        quota = limits_of(info).managed_policies_per_role
        if len(value) > quota:
            raise rule_error(over_quota("managed policies", allowed=quota, has=len(value)))
        return unique(value, label="Managed policies")

    @field_validator("inline_policy")
    @classmethod
    def _inline_policy(cls, value: dict[str, Any] | None, info: ValidationInfo) -> dict[str, Any] | None:
        if value is None:
            return None
        return check_permissions_policy(value, max_chars=limits_of(info).inline_policy_max_chars)

    @field_validator("tags")
    @classmethod
    def _tags(cls, value: list[Tag], info: ValidationInfo) -> list[Tag]:
        return check_tags(value, limits_of(info).max_user_tags)

    @model_validator(mode="after")
    def _arns_in_partition(self) -> "AssumableRoleRequest":
        named = [("managed_policy_arns", arn) for arn in self.managed_policy_arns]
        if self.permissions_boundary_arn:
            named.append(("permissions_boundary_arn", self.permissions_boundary_arn))
        for field, arn in named + self.partitioned_arns():
            error = partition_mismatch(field, arn, self.partition)
            if error:
                raise error
        return self

    def partitioned_arns(self) -> list[tuple[str, str]]:
        """(field, ARN) of the trust's own fields that must be in the bot's partition."""
        return []

    @model_validator(mode="after")
    def _pinned_versions(self) -> "AssumableRoleRequest":
        unknown = set(self.managed_policy_pins) - set(self.managed_policy_arns)
        if unknown:
            raise field_error("managed_policy_arns", f"Versions pinned for policies not requested: {sorted(unknown)}.")
        return self

    @model_validator(mode="after")
    def _trust_size(self, info: ValidationInfo) -> "AssumableRoleRequest":
        try:
            document = self.trust_policy()
            check_policy_chars(document, label="The trust policy")
            for statement in as_list(document.get("Statement", [])):
                check_no_policy_variables(statement, where="The trust policy")
            check_trust_size(document, max_chars=limits_of(info).trust_policy_max_chars)
        except PydanticCustomError as error:
            raise field_error(self.trust_field, error.message()) from None
        return self

    @property
    def display_name(self) -> str:
        return self.role_name

    def pinned(self, pins: dict[str, str]) -> Self:
        """The request with exactly these managed policies pinned (as read from IAM for the review)."""
        return self.model_copy(update={"managed_policy_pins": dict(pins)})

    @property
    def inline_policy_name(self) -> str:
        return f"{self.role_name}-inline"

    @property
    def needs_instance_profile(self) -> bool:
        return False

    def trust_statements(self) -> list[dict[str, Any]]:
        raise NotImplementedError

    def trust_policy(self) -> dict[str, Any]:
        return {"Version": POLICY_VERSION, "Statement": self.trust_statements()}

    def trusted_by(self) -> str:
        """Who may assume the role, in a few words."""
        raise NotImplementedError

    def summary(self) -> str:
        parts = [f"Role `{self.path}{self.role_name}` in {self.account_id}, assumable by {self.trusted_by()}"]
        permissions = []
        if self.managed_policy_arns:
            count = len(self.managed_policy_arns)
            permissions.append(f"{count} managed polic{'y' if count == 1 else 'ies'}")
        if self.inline_policy:
            permissions.append("an inline policy")
        parts.append("with " + " and ".join(permissions) if permissions else "with no permissions yet")
        if self.permissions_boundary_arn:
            parts.append("bounded by " + self.permissions_boundary_arn.rsplit("/", 1)[-1])
        if self.needs_instance_profile:
            parts.append("plus an instance profile")
        sessions = f"sessions up to {self.max_session_duration // 60} min"
        if self.max_session_duration > 3600:
            # Role chaining caps a session at one hour whatever the role allows (see ROLE_CHAINING_DOC).
            sessions += " (60 min when reached by role chaining)"
        expiry = f"; deleted {self.expires_after_days} day(s) after creation" if self.expires_after_days else ""
        return "; ".join(parts) + f"; {sessions}{expiry}."

    def plan(self, provenance_tags: dict[str, str] | None = None) -> list[PlanStep]:
        create: dict[str, Any] = {
            "RoleName": self.role_name,
            "Path": self.path,
            "AssumeRolePolicyDocument": to_json(self.trust_policy()),
            "MaxSessionDuration": self.max_session_duration,
        }
        if self.description:
            create["Description"] = self.description
        if self.permissions_boundary_arn:
            create["PermissionsBoundary"] = self.permissions_boundary_arn
        tags = [{"Key": tag.key, "Value": tag.value} for tag in self.tags]
        tags += [{"Key": key, "Value": value} for key, value in (provenance_tags or {}).items()]
        if tags:
            create["Tags"] = tags
        steps = [PlanStep("CreateRole", create)]
        steps += [
            PlanStep(
                "AttachRolePolicy",
                {"RoleName": self.role_name, "PolicyArn": arn},
                pin=self.managed_policy_pins.get(arn),
            )
            for arn in self.managed_policy_arns
        ]
        if self.inline_policy:
            steps.append(
                PlanStep(
                    "PutRolePolicy",
                    {
                        "RoleName": self.role_name,
                        "PolicyName": self.inline_policy_name,
                        "PolicyDocument": to_json(self.inline_policy),
                    },
                )
            )
        if self.needs_instance_profile:
            profile = {"InstanceProfileName": self.role_name}
            steps.append(PlanStep("CreateInstanceProfile", {**profile, "Path": self.path}))
            steps.append(PlanStep("AddRoleToInstanceProfile", {**profile, "RoleName": self.role_name}))
        return steps


class UserRoleRequest(AssumableRoleRequest):
    """A role for IAM users and roles in this account or another account you own (or a third party)."""

    trust_field: ClassVar[str] = "trusted_principal_arns"

    role_type: Literal[RoleType.USER] = RoleType.USER
    trusted_account_ids: Annotated[list[AccountId], BeforeValidator(split_list)] = []
    trusted_principal_arns: Annotated[list[PrincipalArn], BeforeValidator(split_list)] = []
    external_id: Annotated[ExternalId | None, BeforeValidator(blank_to_none)] = None
    require_mfa: bool = False

    @field_validator("trusted_account_ids")
    @classmethod
    def _accounts(cls, value: list[str]) -> list[str]:
        return unique(value, label="Trusted accounts")

    @field_validator("trusted_principal_arns")
    @classmethod
    def _principals(cls, value: list[str]) -> list[str]:
        return unique(value, label="Trusted principals")

    def principals(self) -> list[str]:
        """Principal ARNs trusted: the named ones, else whole accounts (default: the target)."""
        accounts = [f"arn:{self.partition}:iam::{account}:root" for account in self.trusted_account_ids]
        if self.trusted_principal_arns:
            return [*self.trusted_principal_arns, *accounts]
        return accounts or [f"arn:{self.partition}:iam::{self.account_id}:root"]

    def partitioned_arns(self) -> list[tuple[str, str]]:
        return [("trusted_principal_arns", arn) for arn in self.trusted_principal_arns]

    def trust_statements(self) -> list[dict[str, Any]]:
        condition: dict[str, Any] = {}
        if self.external_id:
            condition["StringEquals"] = {"sts:ExternalId": self.external_id}
        if self.require_mfa:
            condition["Bool"] = {"aws:MultiFactorAuthPresent": "true"}
        return [statement({"AWS": one_or_many(self.principals())}, "sts:AssumeRole", condition)]

    def trusted_by(self) -> str:
        who = ", ".join(self.principals())
        extras = [text for flag, text in ((self.external_id, "external ID"), (self.require_mfa, "MFA")) if flag]
        return who + (f" (with {' and '.join(extras)})" if extras else "")


class ServiceRoleRequest(AssumableRoleRequest):
    """A role AWS services assume on your behalf (EC2 also gets an instance profile).

    ``service_principal`` is the service chosen (a row of ``bot.domain.services.SERVICE_TRUSTS``, or any
    principal typed in); ``more_service_principals`` are further services the same role trusts.
    """

    trust_field: ClassVar[str] = "service_principal"

    role_type: Literal[RoleType.SERVICE] = RoleType.SERVICE
    service_principal: ServicePrincipal
    more_service_principals: Annotated[list[ServicePrincipal], BeforeValidator(split_list)] = []
    restrict_source_account: bool = False
    source_arn: OptionalText = None

    @field_validator("source_arn")
    @classmethod
    def _source_arn(cls, value: str | None) -> str | None:
        if value is not None and not SOURCE_ARN_RE.fullmatch(value):
            raise rule_error(f"“{value}” is not a resource ARN, e.g. arn:aws:sns:us-east-1:111122223333:topic.")
        return value

    @field_validator("more_service_principals")
    @classmethod
    def _more_services(cls, value: list[str]) -> list[str]:
        return unique(value, label="More AWS services")

    @model_validator(mode="after")
    def _source_keys_sent(self) -> "ServiceRoleRequest":
        """A trust demanding ``aws:SourceAccount``/``aws:SourceArn`` from a service that never sends them can
        never be assumed (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-keys.html#condition-keys-sourceaccount)."""
        if not (self.restrict_source_account or self.source_arn):
            return self
        silent = [
            key
            for key in self.chosen_services()
            if (trust := service_trust(key)) is not None and not trust.sends_source_keys
        ]
        if silent:
            field = "restrict_source_account" if self.restrict_source_account else "source_arn"
            raise field_error(
                field,
                f"{', '.join(silent)} doesn't send aws:SourceAccount or aws:SourceArn when it assumes a role, "
                f"so a role that demands them could never be used. Leave this off (see {CONFUSED_DEPUTY_DOC}).",
            )
        return self

    def partitioned_arns(self) -> list[tuple[str, str]]:
        return [("source_arn", self.source_arn)] if self.source_arn else []

    def chosen_services(self) -> list[str]:
        return list(dict.fromkeys([self.service_principal, *self.more_service_principals]))

    def principals_by_field(self) -> list[tuple[str, str]]:
        """(field, principal) of every service principal trusted: each chosen service's from the table
        (Lambda@Edge has two; EC2 in China is ``ec2.amazonaws.com.cn``), with the field that chose it, so
        guardrails can judge every one."""
        named = [("service_principal", self.service_principal)]
        named += [("more_service_principals", key) for key in self.more_service_principals]
        pairs: dict[str, str] = {}
        for field, key in named:
            trust = service_trust(key)
            for principal in trust.principals_in(self.partition) if trust else (key,):
                pairs.setdefault(principal, field)
        return [(field, principal) for principal, field in pairs.items()]

    def principals(self) -> list[str]:
        """Every service principal trusted, in order."""
        return [principal for _, principal in self.principals_by_field()]

    def actions(self) -> list[str]:
        """What the services call: sts:AssumeRole, plus sts:TagSession for those that tag sessions."""
        actions = ["sts:AssumeRole"]
        for key in self.chosen_services():
            trust = service_trust(key)
            actions += trust.actions if trust else ()
        return list(dict.fromkeys(actions))

    @property
    def needs_instance_profile(self) -> bool:
        return any(principal in EC2_PRINCIPALS for principal in self.principals())

    def trust_statements(self) -> list[dict[str, Any]]:
        condition: dict[str, Any] = {}
        if self.restrict_source_account:
            condition["StringEquals"] = {"aws:SourceAccount": self.account_id}
        if self.source_arn:
            condition["ArnLike"] = {"aws:SourceArn": self.source_arn}
        actions = self.actions()
        action: str | list[str] = actions[0] if len(actions) == 1 else actions
        return [statement({"Service": one_or_many(self.principals())}, action, condition)]

    def trusted_by(self) -> str:
        principals = self.principals()
        return f"the AWS service{'s' if len(principals) > 1 else ''} {', '.join(principals)}"


class ServiceLinkedRoleRequest(RoleRequestBase):
    """A service-linked role: the service defines its trust and permissions (CreateServiceLinkedRole)."""

    role_type: Literal[RoleType.SERVICE_LINKED] = RoleType.SERVICE_LINKED
    aws_service_name: ServicePrincipal
    custom_suffix: OptionalText = None
    description: Description = ""

    @field_validator("custom_suffix")
    @classmethod
    def _suffix(cls, value: str | None) -> str | None:
        return None if value is None else check_name_chars(value, label="Custom suffix", max_length=64)

    @property
    def role_name(self) -> str:
        """The name AWS will give the role (see ``service_linked_role_name``)."""
        return service_linked_role_name(self.aws_service_name, self.custom_suffix)

    @property
    def display_name(self) -> str:
        suffix = f" (suffix {self.custom_suffix})" if self.custom_suffix else ""
        return f"service-linked role for {self.aws_service_name}{suffix}"

    def trust_policy(self) -> None:
        return None

    def summary(self) -> str:
        return (
            f"Service-linked role for {self.aws_service_name} in {self.account_id}"
            + (f", suffix {self.custom_suffix}" if self.custom_suffix else "")
            + "; its trust and permissions are defined by the service."
        )

    def plan(self, provenance_tags: dict[str, str] | None = None) -> list[PlanStep]:
        params: dict[str, Any] = {"AWSServiceName": self.aws_service_name}
        if self.description:
            params["Description"] = self.description
        if self.custom_suffix:
            params["CustomSuffix"] = self.custom_suffix
        return [PlanStep("CreateServiceLinkedRole", params)]


class SamlRoleRequest(AssumableRoleRequest):
    """A role for users federated through a SAML 2.0 identity provider.

    ``audience``: the ``SAML:aud`` values accepted — the partition's sign-in endpoint by default, or regional
    ones. ``allow_session_tags`` / ``allow_source_identity`` add ``sts:TagSession`` / ``sts:SetSourceIdentity``,
    which AWS requires when the IdP passes session tags or a source identity
    (https://docs.aws.amazon.com/IAM/latest/UserGuide/id_session-tags.html,
    https://docs.aws.amazon.com/IAM/latest/UserGuide/id_credentials_temp_control-access_monitor.html).
    """

    trust_field: ClassVar[str] = "provider_arn"

    role_type: Literal[RoleType.SAML] = RoleType.SAML
    provider_arn: Annotated[str, BeforeValidator(blank_to_none)]
    audience: Annotated[list[str], BeforeValidator(split_list)] = []
    allow_session_tags: bool = False
    allow_source_identity: bool = False

    @field_validator("audience")
    @classmethod
    def _audiences(cls, value: list[str]) -> list[str]:
        return unique(value, label="SAML audiences")

    @model_validator(mode="after")
    def _provider_in_account(self) -> "SamlRoleRequest":
        mismatch = partition_mismatch("provider_arn", self.provider_arn, self.partition)
        if mismatch:
            raise mismatch
        match = SAML_PROVIDER_RE.fullmatch(self.provider_arn)
        if not match:
            raise field_error(
                "provider_arn",
                f"“{self.provider_arn}” is not a SAML provider ARN, e.g. arn:aws:iam::111122223333:saml-provider/Okta.",
            )
        if match.group(1) != self.account_id:
            raise field_error(
                "provider_arn",
                f"The SAML provider is in account {match.group(1)}, but the role is for "
                f"{self.account_id}; a role can only trust a provider in its own account.",
            )
        partition = partition_of(self.partition)
        for audience in self.audience:
            if not partition.saml_audience_re.fullmatch(audience):
                raise field_error(
                    "audience",
                    f"“{audience}” is not a sign-in endpoint of partition {self.partition}: AWS sets SAML:aud to "
                    f"{partition.saml_audience} or a regional one like "
                    f"{partition.saml_audience.replace('//signin', '//eu-west-1.signin')}, so no sign-in would match.",
                )
        return self

    @property
    def audiences(self) -> list[str]:
        return self.audience or [partition_of(self.partition).saml_audience]

    def trust_statements(self) -> list[dict[str, Any]]:
        actions = ["sts:AssumeRoleWithSAML"]
        actions += ["sts:TagSession"] if self.allow_session_tags else []
        actions += ["sts:SetSourceIdentity"] if self.allow_source_identity else []
        condition = {"StringEquals": {"SAML:aud": one_or_many(self.audiences)}}
        return [statement({"Federated": self.provider_arn}, one_or_many(actions), condition)]

    def trusted_by(self) -> str:
        return "users federated by SAML provider " + self.provider_arn.rsplit("/", 1)[-1]


class OidcRoleRequest(AssumableRoleRequest):
    """A role for web identities: an IAM OIDC provider (e.g. GitHub Actions), or one AWS trusts without one
    (Cognito identity pools, Login with Amazon, Facebook, Google: ``bot.domain.webidentity``)."""

    trust_field: ClassVar[str] = "subjects"

    role_type: Literal[RoleType.OIDC] = RoleType.OIDC
    provider: OptionalText = None
    audiences: Annotated[list[str], BeforeValidator(split_list), AfterValidator(lambda v: v or [STS_AUDIENCE])] = [
        STS_AUDIENCE
    ]
    subjects: TextList = []
    github_repo: OptionalText = None
    github_ref_type: Annotated[
        Literal["branch", "tag", "environment", "pull_request"] | None, BeforeValidator(blank_to_none)
    ] = None
    github_ref: OptionalText = None
    cognito_amr: Annotated[Literal["authenticated", "unauthenticated"] | None, BeforeValidator(blank_to_none)] = None
    allow_high_risk: bool = False

    @field_validator("github_repo")
    @classmethod
    def _repo(cls, value: str | None) -> str | None:
        if value is not None and not GITHUB_REPO_RE.fullmatch(value):
            raise rule_error(f"“{value}” is not a GitHub repository: write it as ORG/REPO.")
        return value

    @model_validator(mode="after")
    def _provider_and_subjects(self) -> "OidcRoleRequest":
        if self.provider is None and self.github_repo is None:
            raise field_error("provider", "Choose the OIDC provider (or give a GitHub repository).")
        mismatch = partition_mismatch("provider", self.provider or "", self.partition)
        if mismatch:
            raise mismatch
        arn = OIDC_PROVIDER_RE.fullmatch(self.provider or "")
        if arn and arn.group(1) != self.account_id:
            raise field_error(
                "provider",
                f"The OIDC provider is in account {arn.group(1)}, but the role is for {self.account_id}; "
                "a role can only trust a provider in its own account.",
            )
        if self.provider and not arn and not OIDC_HOST_RE.fullmatch(self.provider.removeprefix("https://")):
            raise field_error(
                "provider",
                f"“{self.provider}” is neither an OIDC provider ARN nor a host like {GITHUB_OIDC_HOST}.",
            )
        if self.github_ref_type not in (None, "pull_request") and not self.github_ref:
            raise field_error("github_ref", f"Name the {self.github_ref_type} the workflow must run on.")
        if self.github_ref and self.github_ref_type in (None, "pull_request"):
            # Ignoring it would trust every ref (or pull requests) instead of the one the requester named.
            raise field_error(
                "github_ref_type",
                f"Choose whether “{self.github_ref}” is a branch, a tag or an environment "
                "(pull requests have no name: leave it empty).",
            )
        if self.github_ref_type and not self.github_repo:
            raise field_error("github_repo", "Give the repository (ORG/REPO) the workflow runs in.")
        if self.github_repo and not self.is_github:
            raise field_error(
                "github_repo",
                f"A GitHub repository only applies to GitHub Actions ({GITHUB_OIDC_HOST}); this role trusts "
                f"{self.provider_host}, so give its subjects instead.",
            )
        if self.cognito_amr and self.provider_host != COGNITO:
            raise field_error("cognito_amr", f"Only a Cognito identity pool ({COGNITO}) has (un)authenticated users.")
        self._check_web_identity()
        field = "github_repo" if self.github_repo else "subjects"
        if self.is_github and not self.all_subjects():
            # AWS is reported to refuse this since 2025 (not on AWS's own pages); either way it lets every
            # GitHub repository in the world in, so no tick box can allow it.
            raise field_error(
                field,
                "Without a subject (sub) condition, any GitHub repository in the world could assume this role; "
                "give the repository or its subjects.",
            )
        risks = self.high_risk_reasons()
        if risks and not self.allow_high_risk:
            raise field_error(field, " ".join(risks) + " Tick “allow high risk” only if that is really intended.")
        return self

    def _check_web_identity(self) -> None:
        """A built-in web identity provider must name your app (or identity pool): its audience is everyone's."""
        provider = self.web_identity_provider
        if provider is None:
            return
        if self.partition != DEFAULT_PARTITION:
            raise field_error(
                "provider", f"{provider.label} roles are only supported by the bot in partition {DEFAULT_PARTITION}."
            )
        if self.audiences == [STS_AUDIENCE]:
            raise field_error(
                "audiences",
                f"Give your {provider.label} app id ({provider.audience_key}, e.g. {provider.audience_example}): "
                f"without it, every app that signs users in with {provider.label} could assume this role.",
            )
        if provider.host == COGNITO:
            bad = [pool for pool in self.audiences if not COGNITO_POOL_ID_RE.fullmatch(pool)]
            if bad:
                raise field_error(
                    "audiences", f"“{bad[0]}” is not an identity pool id like us-east-1:1a2b3c4d-5678-90ab-cdef-…."
                )

    @property
    def provider_host(self) -> str:
        if self.provider is None:
            return GITHUB_OIDC_HOST
        arn = OIDC_PROVIDER_RE.fullmatch(self.provider)
        return arn.group(2) if arn else self.provider.removeprefix("https://").rstrip("/")

    @property
    def web_identity_provider(self) -> WebIdentityProvider | None:
        """The built-in provider (Cognito, Amazon, Facebook, Google) when no IAM OIDC provider is used."""
        arn = OIDC_PROVIDER_RE.fullmatch(self.provider or "")
        return None if arn else WEB_IDENTITY_PROVIDERS.get(self.provider_host.lower())

    @property
    def provider_arn(self) -> str:
        """The IAM OIDC provider trusted: as chosen, else in the target account and the bot's partition."""
        if self.provider and OIDC_PROVIDER_RE.fullmatch(self.provider):
            return self.provider
        return f"arn:{self.partition}:iam::{self.account_id}:oidc-provider/{self.provider_host}"

    @property
    def is_github(self) -> bool:
        """GitHub Actions, also with an enterprise's own issuer (``…githubusercontent.com/<enterprise>``)."""
        host = self.provider_host.lower()
        return host == GITHUB_OIDC_HOST or host.startswith(GITHUB_OIDC_HOST + "/")

    def all_subjects(self) -> list[str]:
        """The subjects typed in, plus the one the GitHub shortcut stands for."""
        subjects = list(self.subjects)
        if self.github_repo:
            repo = f"repo:{self.github_repo}"
            subjects.append(
                {
                    None: f"{repo}:*",
                    "branch": f"{repo}:ref:refs/heads/{self.github_ref}",
                    "tag": f"{repo}:ref:refs/tags/{self.github_ref}",
                    "environment": f"{repo}:environment:{self.github_ref}",
                    "pull_request": f"{repo}:pull_request",
                }[self.github_ref_type]
            )
        return list(dict.fromkeys(subjects))

    def high_risk_reasons(self) -> list[str]:
        """Why this trust would let far more identities in than intended (empty when it won't)."""
        subjects = self.all_subjects()
        who = "any GitHub repository in the world" if self.is_github else "any identity of this provider"
        if not subjects:
            # A built-in web identity provider's audience (your app id) already pins whose users get in.
            return (
                []
                if self.web_identity_provider
                else [f"Without a subject (sub) condition, {who} could assume this role."]
            )
        reasons = []
        for subject in subjects:
            if subject.strip("*?") == "":
                reasons.append(f"The subject “{subject}” matches everything: {who} could assume this role.")
            elif self.is_github and subject.startswith("repo:") and has_wildcard(github_repo_part(subject)):
                reasons.append(f"The subject “{subject}” matches repositories by wildcard, not one repository.")
            elif self.is_github and not pins_owner_or_repository(subject):
                reasons.append(
                    f"The subject “{subject}” doesn't name one repository (repo:ORG/REPO, repository_id) or one "
                    "owner by id (repository_owner_id) before any wildcard, so other GitHub repositories match it."
                )
        return reasons

    def trust_statements(self) -> list[dict[str, Any]]:
        provider = self.web_identity_provider
        if provider is not None:
            principal, audience_key, subject_key = provider.host, provider.audience_key, provider.subject_key
        else:
            host = self.provider_host
            principal, audience_key, subject_key = self.provider_arn, f"{host}:aud", f"{host}:sub"
        conditions = [{"StringEquals": {audience_key: one_or_many(self.audiences)}}]
        if self.all_subjects():
            conditions.append(subject_condition(subject_key, self.all_subjects()))
        if provider is not None and provider.host == COGNITO:
            # Cognito's amr claim is a list; the Cognito guide matches it with ForAnyValue:StringLike.
            amr = self.cognito_amr or COGNITO_AMR_CHOICES[0]
            conditions.append({"ForAnyValue:StringLike": {f"{COGNITO}:amr": amr}})
        condition = merge_conditions(*conditions)
        return [statement({"Federated": principal}, "sts:AssumeRoleWithWebIdentity", condition)]

    def trusted_by(self) -> str:
        subjects = ", ".join(self.all_subjects()) or "any subject"
        provider = self.web_identity_provider
        if provider is not None:
            users = f"{self.cognito_amr or COGNITO_AMR_CHOICES[0]} users" if provider.host == COGNITO else "users"
            return f"{users} of {provider.label} app {', '.join(self.audiences)} ({subjects})"
        return f"web identities from {self.provider_host} ({subjects})"


class CustomTrustRoleRequest(AssumableRoleRequest):
    """A role with a trust policy written by the requester."""

    trust_field: ClassVar[str] = "trust_policy_document"

    role_type: Literal[RoleType.CUSTOM] = RoleType.CUSTOM
    trust_policy_document: Annotated[dict[str, Any], BeforeValidator(lambda v: parse_document(v, label="Trust policy"))]

    @field_validator("trust_policy_document")
    @classmethod
    def _trust(cls, value: dict[str, Any]) -> dict[str, Any]:
        return check_trust_policy(value)

    def trust_statements(self) -> list[dict[str, Any]]:
        statements = self.trust_policy_document["Statement"]
        return statements if isinstance(statements, list) else [statements]

    def trust_policy(self) -> dict[str, Any]:
        return self.trust_policy_document

    def trusted_by(self) -> str:
        kinds = sorted(
            {
                f"{kind}: {value}"
                for item in self.trust_statements()
                for kind, values in item["Principal"].items()
                for value in (values if isinstance(values, list) else [values])
            }
        )
        return "the principals of a custom trust policy (" + "; ".join(kinds) + ")"


RoleRequest = Annotated[
    UserRoleRequest
    | ServiceRoleRequest
    | ServiceLinkedRoleRequest
    | SamlRoleRequest
    | OidcRoleRequest
    | CustomTrustRoleRequest,
    Field(discriminator="role_type"),
]
"""Any role request; ``role_type`` says which variant."""
