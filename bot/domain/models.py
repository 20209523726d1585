"""Role request models: one variant per role type of the AWS guide "IAM role creation".

Each variant validates its fields against AWS's real limits, builds its trust policy and renders
its summary and plan. Quotas come from the validation context (``{"limits": Limits(...)}``).
"""

import re
from enum import StrEnum
from typing import Annotated, Any, ClassVar, Literal

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
    default_if_blank,
    field_error,
    parse_tags,
    rule_error,
    split_list,
    unique,
)
from bot.domain.limits import Limits, over_quota
from bot.domain.plan import PlanStep
from bot.domain.policies import (
    check_permissions_policy,
    check_trust_policy,
    check_trust_size,
    parse_document,
    to_json,
)
from bot.domain.services import EC2_PRINCIPALS, service_linked_role_name

POLICY_VERSION = "2012-10-17"
SAML_AUDIENCE = "https://signin.aws.amazon.com/saml"
GITHUB_OIDC_HOST = "token.actions.githubusercontent.com"
STS_AUDIENCE = "sts.amazonaws.com"
SAML_PROVIDER_RE = re.compile(rf"arn:{PARTITION}:iam::([0-9]{{12}}):saml-provider/[A-Za-z0-9+=,.@_-]{{1,128}}")
OIDC_PROVIDER_RE = re.compile(
    rf"arn:{PARTITION}:iam::([0-9]{{12}}):oidc-provider/([A-Za-z0-9.:_-]+(?:/[A-Za-z0-9.:_-]+)*)"
)
OIDC_HOST_RE = re.compile(r"[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+(?:/[A-Za-z0-9._/-]*)?")
GITHUB_REPO_RE = re.compile(r"[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+")
SOURCE_ARN_RE = re.compile(rf"arn:{PARTITION}:[a-z0-9-]+:[a-z0-9-]*:([0-9]{{12}}|\*)?:[\x21-\x7E]+")
WILDCARDS = ("*", "?")

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


def statement(principal: dict[str, Any], action: str, condition: dict[str, Any]) -> dict[str, Any]:
    """One trust statement, with its Condition only when there is one."""
    result: dict[str, Any] = {"Effect": "Allow", "Principal": principal, "Action": action}
    if condition:
        result["Condition"] = condition
    return result


def one_or_many(values: list[str]) -> str | list[str]:
    return values[0] if len(values) == 1 else values


def has_wildcard(text: str) -> bool:
    return any(wildcard in text for wildcard in WILDCARDS)


def github_repo_part(subject: str) -> str:
    """``ORG/REPO`` of a GitHub subject like ``repo:ORG/REPO:ref:refs/heads/main``."""
    kind, _, rest = subject.partition(":")
    return rest.split(":", 1)[0] if kind == "repo" else subject


class RoleRequestBase(BaseModel):
    """What every request has: the target account and the requester's reason."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    account_id: AccountId
    justification: Justification

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
    managed_policy_arns: Annotated[list[PolicyArn], BeforeValidator(split_list)] = []
    inline_policy: Annotated[
        dict[str, Any] | None,
        BeforeValidator(lambda v: parse_document(v, label="Inline policy")),
    ] = None
    permissions_boundary_arn: Annotated[PolicyArn | None, BeforeValidator(blank_to_none)] = None
    tags: Annotated[list[Tag], BeforeValidator(parse_tags)] = []

    @field_validator("max_session_duration")
    @classmethod
    def _max_session(cls, value: int) -> int:
        if not 3600 <= value <= 43200:
            # Python can't print integers of thousands of digits; don't try to show those.
            got = f"; got {value} s" if abs(value) < 10**12 else ""
            raise rule_error(f"Maximum session duration must be between 3600 s (1 hour) and 43200 s (12 hours){got}.")
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
    def _trust_size(self, info: ValidationInfo) -> "AssumableRoleRequest":
        try:
            check_trust_size(self.trust_policy(), max_chars=limits_of(info).trust_policy_max_chars)
        except PydanticCustomError as error:
            raise field_error(self.trust_field, error.message()) from None
        return self

    @property
    def display_name(self) -> str:
        return self.role_name

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
        return "; ".join(parts) + f"; sessions up to {self.max_session_duration // 60} min."

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
            PlanStep("AttachRolePolicy", {"RoleName": self.role_name, "PolicyArn": arn})
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
        accounts = [f"arn:aws:iam::{account}:root" for account in self.trusted_account_ids]
        if self.trusted_principal_arns:
            return [*self.trusted_principal_arns, *accounts]
        return accounts or [f"arn:aws:iam::{self.account_id}:root"]

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
    """A role an AWS service assumes on your behalf (EC2 also gets an instance profile)."""

    trust_field: ClassVar[str] = "service_principal"

    role_type: Literal[RoleType.SERVICE] = RoleType.SERVICE
    service_principal: ServicePrincipal
    restrict_source_account: bool = False
    source_arn: OptionalText = None

    @field_validator("source_arn")
    @classmethod
    def _source_arn(cls, value: str | None) -> str | None:
        if value is not None and not SOURCE_ARN_RE.fullmatch(value):
            raise rule_error(f"“{value}” is not a resource ARN, e.g. arn:aws:sns:us-east-1:111122223333:topic.")
        return value

    @property
    def needs_instance_profile(self) -> bool:
        return self.service_principal in EC2_PRINCIPALS

    def trust_statements(self) -> list[dict[str, Any]]:
        condition: dict[str, Any] = {}
        if self.restrict_source_account:
            condition["StringEquals"] = {"aws:SourceAccount": self.account_id}
        if self.source_arn:
            condition["ArnLike"] = {"aws:SourceArn": self.source_arn}
        return [statement({"Service": self.service_principal}, "sts:AssumeRole", condition)]

    def trusted_by(self) -> str:
        return f"the AWS service {self.service_principal}"


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
    """A role for users federated through a SAML 2.0 identity provider."""

    trust_field: ClassVar[str] = "provider_arn"

    role_type: Literal[RoleType.SAML] = RoleType.SAML
    provider_arn: Annotated[str, BeforeValidator(blank_to_none)]
    audience: Annotated[str, BeforeValidator(default_if_blank(SAML_AUDIENCE))] = SAML_AUDIENCE

    @model_validator(mode="after")
    def _provider_in_account(self) -> "SamlRoleRequest":
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
        return self

    def trust_statements(self) -> list[dict[str, Any]]:
        condition = {"StringEquals": {"SAML:aud": self.audience}}
        return [statement({"Federated": self.provider_arn}, "sts:AssumeRoleWithSAML", condition)]

    def trusted_by(self) -> str:
        return "users federated by SAML provider " + self.provider_arn.rsplit("/", 1)[-1]


class OidcRoleRequest(AssumableRoleRequest):
    """A role for web identities from an OIDC provider, e.g. GitHub Actions workflows."""

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
        risks = self.high_risk_reasons()
        if risks and not self.allow_high_risk:
            field = "github_repo" if self.github_repo else "subjects"
            raise field_error(field, " ".join(risks) + " Tick “allow high risk” only if that is really intended.")
        return self

    @property
    def provider_host(self) -> str:
        if self.provider is None:
            return GITHUB_OIDC_HOST
        arn = OIDC_PROVIDER_RE.fullmatch(self.provider)
        return arn.group(2) if arn else self.provider.removeprefix("https://").rstrip("/")

    @property
    def provider_arn(self) -> str:
        return f"arn:aws:iam::{self.account_id}:oidc-provider/{self.provider_host}"

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
            return [f"Without a subject (sub) condition, {who} could assume this role."]
        reasons = []
        for subject in subjects:
            if subject.strip("*?") == "":
                reasons.append(f"The subject “{subject}” matches everything: {who} could assume this role.")
            elif self.is_github and has_wildcard(github_repo_part(subject)):
                reasons.append(f"The subject “{subject}” matches repositories by wildcard, not one repository.")
        return reasons

    def trust_statements(self) -> list[dict[str, Any]]:
        host = self.provider_host
        condition: dict[str, Any] = {"StringEquals": {f"{host}:aud": one_or_many(self.audiences)}}
        exact = [s for s in self.all_subjects() if not has_wildcard(s)]
        patterns = [s for s in self.all_subjects() if has_wildcard(s)]
        if exact:
            condition["StringEquals"][f"{host}:sub"] = one_or_many(exact)
        if patterns:
            condition["StringLike"] = {f"{host}:sub": one_or_many(patterns)}
        return [statement({"Federated": self.provider_arn}, "sts:AssumeRoleWithWebIdentity", condition)]

    def trusted_by(self) -> str:
        subjects = ", ".join(self.all_subjects()) or "any subject"
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
