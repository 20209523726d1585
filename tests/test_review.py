"""The review: every finding, with a request that triggers it and one that does not.

Requests are built as the modal sends them and go through ``parse_role_request``; a finding is
identified by its severity and title, and the words an approver reads are checked where they matter.
"""

import json
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest
from moto.iam.aws_managed_policies import aws_managed_policies_data

from bot import review as review_module
from bot.domain import CustomTrustRoleRequest, ManagedPolicy, RequestInvalid, RoleRequest, parse_role_request
from bot.domain.retire import InstanceProfile, RoleToRetire
from bot.review import (
    IDENTITY_POLICY,
    TRUST_POLICY,
    Finding,
    Severity,
    group_by_severity,
    is_high_risk,
    linter_input,
    review,
)
from bot.review.retirement import retirement_findings

ACCOUNT = "111122223333"
OURS = "777788889999"
THIRD_PARTY = "444455556666"
GITHUB = "token.actions.githubusercontent.com"
BUCKET = "arn:aws:s3:::reports/*"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/app"
HIGH, WARNING, INFO = Severity.HIGH, Severity.WARNING, Severity.INFO
DEFAULTS: dict[str, dict[str, Any]] = {
    "user": {"role_name": "ops"},
    "service": {"role_name": "app", "service_principal": "lambda.amazonaws.com"},
    "service-linked": {"aws_service_name": "autoscaling.amazonaws.com"},
    "saml": {"role_name": "okta", "provider_arn": f"arn:aws:iam::{ACCOUNT}:saml-provider/Okta"},
    "oidc": {"role_name": "deploy", "github_repo": "acme/web", "github_ref_type": "branch", "github_ref": "main"},
    "custom": {"role_name": "partner"},
}


def request(role_type: str = "user", **fields: Any) -> RoleRequest:
    data = {"role_type": role_type, "account_id": ACCOUNT, "justification": "Needed.", **DEFAULTS[role_type]}
    return parse_role_request({**data, **fields})


def document(*statements: dict[str, Any]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def allow(action: str | list[str], resource: str | list[str] = "*", **extra: Any) -> dict[str, Any]:
    return {"Effect": "Allow", "Action": action, "Resource": resource, **extra}


def oidc(**fields: Any) -> RoleRequest:
    """An OIDC request with only the given subject fields (GitHub's provider unless told)."""
    unset = {"github_repo": None, "github_ref_type": None, "github_ref": None}
    return request("oidc", **{**unset, "provider": GITHUB, **fields})


def with_policy(*statements: dict[str, Any]) -> RoleRequest:
    return request(inline_policy=document(*statements))


def trusting(*statements: dict[str, Any]) -> RoleRequest:
    return request("custom", trust_policy_document=document(*statements))


def oidc_trust(condition: dict[str, Any]) -> dict[str, Any]:
    principal = {"Federated": f"arn:aws:iam::{ACCOUNT}:oidc-provider/{GITHUB}"}
    action = "sts:AssumeRoleWithWebIdentity"
    return {"Effect": "Allow", "Principal": principal, "Action": action, "Condition": condition}


def found(findings: list[Finding], title: str) -> list[Finding]:
    return [finding for finding in findings if finding.title == title]


def the(findings: list[Finding], title: str) -> Finding:
    (finding,) = found(findings, title)
    return finding


# --- permissions ------------------------------------------------------------------------------

PASSED_TO_LAMBDA = {"StringEquals": {"iam:PassedToService": "lambda.amazonaws.com"}}

PERMISSION_CASES = [
    # (title, severity, triggering statements, statements that do not trigger it)
    ("Full administrator access", HIGH, [allow("*")], [allow("*", BUCKET)]),
    ("Every action of every AWS service", HIGH, [allow("*", BUCKET)], [allow("s3:GetObject", BUCKET)]),
    ("Every iam action", WARNING, [allow("iam:*")], [allow("iam:GetRole")]),
    ("Can change IAM", HIGH, [allow("iam:*")], [allow("iam:Get*")]),
    ("Can change IAM", HIGH, [allow("iam:PutRolePermissionsBoundary")], [allow("iam:CreateServiceLinkedRole")]),
    ("Can change IAM", HIGH, [allow("iam:DeleteRolePermissionsBoundary")], [allow("iam:GetRole")]),
    (
        "Can change the organisation or its sign-in",
        HIGH,
        [allow("sso:CreateAccountAssignment", ROLE)],
        [allow("sso:List*")],
    ),
    (
        "Can change the organisation or its sign-in",
        HIGH,
        [allow("organizations:LeaveOrganization")],
        [allow("organizations:Describe*")],
    ),
    ("Can switch off security monitoring", HIGH, [allow("cloudtrail:StopLogging", ROLE)], [allow("cloudtrail:Get*")]),
    ("Can switch off security monitoring", HIGH, [allow("guardduty:DeleteDetector")], [allow("guardduty:List*")]),
    ("Can run code as an existing identity", HIGH, [allow("ssm:SendCommand")], [allow("ssm:GetParameter")]),
    ("Can run code as an existing identity", HIGH, [allow("ssm:StartSession")], [allow("ssm:DescribeSessions")]),
    ("Can run code as an existing identity", HIGH, [allow("ecs:ExecuteCommand")], [allow("ecs:Describe*")]),
    (
        "Can assume organisation administrator roles",
        HIGH,
        [allow("sts:AssumeRole", f"arn:aws:iam::{THIRD_PARTY}:role/OrganizationAccountAccessRole")],
        [allow("sts:AssumeRole", ROLE)],
    ),
    ("Every s3 action", WARNING, [allow("s3:*", BUCKET)], [allow("s3:Get*", BUCKET)]),
    (
        "Allows everything except the listed actions",
        HIGH,
        [{"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"}],
        [{"Effect": "Deny", "NotAction": "s3:*", "Resource": "*"}, allow("s3:GetObject", BUCKET)],
    ),
    (
        "Allows actions on everything except the listed resources",
        WARNING,
        [{"Effect": "Allow", "Action": "s3:GetObject", "NotResource": BUCKET}],
        [{"Effect": "Deny", "Action": "s3:*", "NotResource": BUCKET}, allow("s3:GetObject", BUCKET)],
    ),
    ("Can rewrite managed policies", HIGH, [allow("iam:CreatePolicyVersion")], [allow("iam:GetPolicyVersion")]),
    ("Can rewrite managed policies", HIGH, [allow("iam:SetDefaultPolicyVersion")], [allow("iam:ListPolicies")]),
    ("Can grant permissions to users, groups or roles", HIGH, [allow("iam:Attach*")], [allow("iam:GetRolePolicy")]),
    ("Can grant permissions to users, groups or roles", HIGH, [allow("iam:PutRolePolicy")], [allow("iam:Get*")]),
    ("Can change who may assume roles", HIGH, [allow("iam:UpdateAssumeRolePolicy")], [allow("iam:UpdateRole")]),
    ("Can create access keys for IAM users", HIGH, [allow("iam:CreateAccessKey")], [allow("iam:ListAccessKeys")]),
    ("Can set console passwords for IAM users", HIGH, [allow("iam:CreateLoginProfile")], [allow("iam:List*")]),
    ("Can set console passwords for IAM users", HIGH, [allow("iam:UpdateLoginProfile")], [allow("iam:GetUser")]),
    ("Can add IAM users to groups", HIGH, [allow("iam:AddUserToGroup")], [allow("iam:ListGroupsForUser")]),
    ("Can replace the code of Lambda functions", HIGH, [allow("lambda:UpdateFunctionCode")], [allow("lambda:Get*")]),
    (
        "Can pass any role to AWS services",
        HIGH,
        [allow("iam:PassRole")],
        [allow("iam:PassRole", Condition=PASSED_TO_LAMBDA), allow("iam:PassRole", ROLE)],
    ),
    (
        "Can pass any role to AWS services",
        HIGH,
        [allow("iam:PassRole", Condition={"StringLike": {"iam:PassedToService": "*.amazonaws.com"}})],
        [allow("iam:PassRole", Condition={"StringLike": {"iam:PassedToService": "lambda.amazonaws.com"}})],
    ),
    (
        "Can pass any role to AWS services",
        HIGH,
        [allow("iam:PassRole", Condition={"StringNotEquals": {"iam:PassedToService": "ec2.amazonaws.com"}})],
        [allow("iam:PassRole", Condition=PASSED_TO_LAMBDA)],
    ),
    ("Can assume any role", HIGH, [allow("sts:AssumeRole")], [allow("sts:AssumeRole", ROLE)]),
    *[
        (
            "Can run code as another role",
            HIGH,
            [allow("iam:PassRole", Condition=PASSED_TO_LAMBDA), allow(target)],
            [allow(target), allow("iam:GetRole")],
        )
        for target in (
            "ec2:RunInstances",
            ["lambda:CreateFunction", "lambda:InvokeFunction"],
            "cloudformation:CreateStack",
            "glue:Create*",
        )
    ],
    # what the parliament linter adds
    ("Changes allowed on every resource", WARNING, [allow("sqs:SendMessage")], [allow("cloudwatch:PutMetricData")]),
    (
        "Can change permissions or resource policies",
        WARNING,
        [allow("s3:PutBucketPolicy", "arn:aws:s3:::reports")],
        [allow("s3:GetBucketPolicy", "arn:aws:s3:::reports")],
    ),
    (
        "Can grant itself access through a bucket policy",
        WARNING,
        [allow("s3:PutBucketPolicy", "arn:aws:s3:::reports")],
        [allow(["s3:PutBucketPolicy", "s3:*Object"], ["arn:aws:s3:::reports", "arn:aws:s3:::reports/*"])],
    ),
    ("Can obtain credentials", INFO, [allow("ecr:GetAuthorizationToken")], [allow("ecr:DescribeRepositories")]),
    ("Known privilege-escalation path", HIGH, [allow("glue:UpdateDevEndpoint")], [allow("glue:GetDevEndpoint")]),
    ("Unknown action", INFO, [allow("s3:GetObjekt", BUCKET)], [allow("s3:GetObject", BUCKET)]),
    ("Unknown action", INFO, [allow("s4:GetObject", BUCKET)], [allow("s3:GetObject", BUCKET)]),
    (
        "Resource does not fit the action",
        INFO,
        [allow("s3:GetObject", f"arn:aws:sqs:us-east-1:{ACCOUNT}:queue")],
        [allow("s3:GetObject", BUCKET)],
    ),
    (
        "MFA condition does not enforce MFA",
        WARNING,
        [allow("s3:GetObject", BUCKET, Condition={"Bool": {"aws:MultiFactorAuthPresent": "false"}})],
        [allow("s3:GetObject", BUCKET, Condition={"Bool": {"aws:MultiFactorAuthPresent": "true"}})],
    ),
    (
        "Condition allows more than it seems",
        WARNING,
        [allow("s3:GetObject", BUCKET, Condition={"ForAllValues:StringEquals": {"aws:RequestedRegion": ["x"]}})],
        [allow("s3:GetObject", BUCKET, Condition={"StringEquals": {"aws:RequestedRegion": "eu-west-1"}})],
    ),
    (
        "Linter: Unknown condition for action",
        INFO,
        [allow("s3:GetObject", BUCKET, Condition={"StringEquals": {"ec2:Region": "eu-west-1"}})],
        [allow("s3:GetObject", BUCKET, Condition={"StringEquals": {"aws:RequestedRegion": "eu-west-1"}})],
    ),
]


@pytest.mark.parametrize(("title", "severity", "triggers", "quiet"), PERMISSION_CASES)
def test_permission_finding(
    title: str, severity: Severity, triggers: list[dict[str, Any]], quiet: list[dict[str, Any]]
) -> None:
    finding = the(review(with_policy(*triggers)), title)
    assert (finding.severity, finding.concerns) == (severity, "inline_policy")
    assert found(review(with_policy(*quiet)), title) == []


@pytest.mark.parametrize(
    ("action", "title"),
    [
        ("iam:CreatePolicyVersion", "Can rewrite managed policies"),
        ("iam:AttachRolePolicy", "Can grant permissions to users, groups or roles"),
        ("iam:CreateAccessKey", "Can create access keys for IAM users"),
        ("lambda:UpdateFunctionCode", "Can replace the code of Lambda functions"),
    ],
)
def test_escalation_limited_to_named_resources_is_a_warning_naming_them(action: str, title: str) -> None:
    resource = "arn:aws:lambda:us-east-1:111122223333:function:app" if action.startswith("lambda") else ROLE
    finding = the(review(with_policy(allow(action, resource))), title)
    assert finding.severity is WARNING
    assert resource in finding.explanation


def test_pass_role_to_named_roles_with_something_that_runs_code_is_a_warning() -> None:
    finding = the(review(with_policy(allow("iam:PassRole", ROLE), allow("ec2:*"))), "Can run code as another role")
    assert finding.severity is WARNING
    assert "ec2:RunInstances" in finding.explanation and ROLE in finding.explanation


def test_full_access_reads_as_administrator_and_hides_nothing_else_behind_it() -> None:
    findings = review(with_policy(allow("*"), allow("s3:GetObject", BUCKET)))
    assert [f.title for f in findings] == ["Full administrator access"]
    assert "the same as AdministratorAccess" in findings[0].explanation
    restricted = review(with_policy(allow("*", BUCKET)))
    assert BUCKET in the(restricted, "Every action of every AWS service").explanation


def test_a_service_wildcard_is_judged_by_the_actions_inside_it() -> None:
    findings = review(with_policy(allow("iam:*")))
    assert the(findings, "Can change IAM").severity is HIGH
    assert "iam:AttachRolePolicy" in the(findings, "Can change IAM").explanation
    assert {f.severity for f in review(with_policy(allow("s3:*", BUCKET)))} == {WARNING}


def test_linter_lists_leave_out_what_our_checks_judge() -> None:
    findings = review(with_policy(allow(["iam:PassRole", "sts:AssumeRole"], ROLE)))
    assert findings == []
    findings = review(with_policy(allow(["iam:CreateAccessKey", "sqs:SendMessage", "s3:PutBucketPolicy"])))
    assert "iam:CreateAccessKey" not in the(findings, "Changes allowed on every resource").explanation
    assert "s3:PutBucketPolicy" in the(findings, "Can change permissions or resource policies").explanation


def test_linter_escalation_paths_we_report_ourselves_are_not_repeated() -> None:
    findings = review(with_policy(allow(["iam:PassRole", "lambda:CreateFunction", "lambda:InvokeFunction"])))
    assert found(findings, "Known privilege-escalation path") == []
    assert the(findings, "Can run code as another role").severity is HIGH


def test_the_linter_never_sees_what_it_misreads_or_expands_slowly() -> None:
    assert linter_input(document(allow("*"), allow("s3:*"))) is None
    assert linter_input(document({"Effect": "Allow", "NotAction": "s3:*", "Resource": "*"})) is None
    kept = linter_input(document(allow(["*", "s3:GetObject"], BUCKET)))
    assert kept == document(allow(["s3:GetObject"], BUCKET))


def test_a_failing_linter_is_ignored(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(review_module.parliament(), "analyze_policy_string", broken)
    findings = review(with_policy(allow(["sqs:SendMessage", "iam:CreateAccessKey"])))
    assert [f.title for f in findings] == ["Can change IAM", "Can create access keys for IAM users"]


def aws_managed(name: str) -> ManagedPolicy:
    """An AWS managed policy's default version, as moto ships AWS's text (no server needed)."""
    data = json.loads(aws_managed_policies_data)[name.rsplit("/", 1)[-1]]
    return ManagedPolicy(
        f"arn:aws:iam::aws:policy{data['Path']}{name.rsplit('/', 1)[-1]}", data["DefaultVersionId"], data["Document"]
    )


def with_managed(*policies: ManagedPolicy) -> list[Finding]:
    arns = [policy.arn for policy in policies]
    return review(request(managed_policy_arns=arns), managed_policies={p.arn: p for p in policies})


@pytest.mark.parametrize(
    ("name", "title"),
    [
        ("AdministratorAccess", "Full administrator access"),
        ("IAMFullAccess", "Can change IAM"),
        ("PowerUserAccess", "Allows everything except the listed actions"),
        ("AWSOrganizationsFullAccess", "Can change the organisation or its sign-in"),
        ("AdministratorAccess-Amplify", "Can change IAM"),
        ("AWSSSOMasterAccountAdministrator", "Can change the organisation or its sign-in"),
        ("job-function/SystemAdministrator", "Can pass any role to AWS services"),
    ],
)
def test_managed_policies_are_reviewed_from_their_text(name: str, title: str) -> None:
    policy = aws_managed(name)
    finding = the(with_managed(policy), title)
    assert (finding.severity, finding.concerns) == (HIGH, "managed_policy_arns")
    assert f"{policy.name} ({policy.version_id})" in finding.explanation


def test_a_customer_managed_policy_is_reviewed_like_an_inline_one() -> None:
    admin = ManagedPolicy(f"arn:aws:iam::{ACCOUNT}:policy/ReadOnlyAccess", "v3", document(allow("*")))
    assert the(with_managed(admin), "Full administrator access").severity is HIGH
    reader = ManagedPolicy(f"arn:aws:iam::{ACCOUNT}:policy/reader", "v1", document(allow("s3:GetObject", BUCKET)))
    assert with_managed(reader, aws_managed("ReadOnlyAccess")) == []


def test_a_managed_policy_that_could_not_be_read_is_high_until_read() -> None:
    arn = "arn:aws:iam::aws:policy/ReadOnlyAccess"
    for documents in ({}, {arn: None}):
        finding = the(
            review(request(managed_policy_arns=[arn]), managed_policies=documents), "Managed policy not reviewed"
        )
        assert finding.severity is HIGH and arn in finding.explanation


# --- trust ------------------------------------------------------------------------------------


def test_third_party_account_without_external_id() -> None:
    title = "Third-party account without an external ID"
    finding = the(review(request(trusted_account_ids=[THIRD_PARTY])), title)
    assert (finding.severity, finding.concerns) == (HIGH, "trusted_account_ids")
    role = f"arn:aws:iam::{THIRD_PARTY}:role/vendor"
    assert the(review(request(trusted_principal_arns=[role])), title).concerns == "trusted_principal_arns"
    with_external_id = review(request(trusted_account_ids=[THIRD_PARTY], external_id="ours-123"))
    assert [(f.severity, f.title) for f in with_external_id] == [(WARNING, "Account outside the organisation")]
    assert found(review(request(trusted_account_ids=[THIRD_PARTY]), known_accounts=[THIRD_PARTY]), title) == []
    assert found(review(request(trusted_account_ids=[THIRD_PARTY]), home_account_id=THIRD_PARTY), title) == []


def test_another_whole_account_without_mfa_or_external_id() -> None:
    title = "Another whole account can assume this role"
    finding = the(review(request(trusted_account_ids=[OURS]), known_accounts=[OURS]), title)
    assert (finding.severity, finding.concerns) == (WARNING, "trusted_account_ids")
    assert review(request(trusted_account_ids=[OURS], require_mfa=True), known_accounts=[OURS]) == []
    role = f"arn:aws:iam::{OURS}:role/ci"
    assert review(request(trusted_principal_arns=[role]), known_accounts=[OURS]) == []
    assert review(request()) == []


def test_mfa_only_counts_when_enforced() -> None:
    present = {"Effect": "Allow", "Principal": {"AWS": OURS}, "Action": "sts:AssumeRole"}
    title = "Another whole account can assume this role"
    if_exists = {**present, "Condition": {"BoolIfExists": {"aws:MultiFactorAuthPresent": "true"}}}
    assert found(review(trusting(if_exists), known_accounts=[OURS]), title)
    aged = {**present, "Condition": {"NumericLessThan": {"aws:MultiFactorAuthAge": "3600"}}}
    assert review(trusting(aged), known_accounts=[OURS]) == []
    as_json_boolean = {**present, "Condition": {"Bool": {"aws:MultiFactorAuthPresent": True}}}
    assert review(trusting(as_json_boolean), known_accounts=[OURS]) == []


@pytest.mark.parametrize(
    ("fields", "title", "severity", "concerns"),
    [
        # GitHub without a subject is refused at submission (issue 13): another issuer shows the finding.
        ({"provider": "login.example.com", "allow_high_risk": True}, "No subject restriction", HIGH, "subjects"),
        ({"subjects": ["*"], "allow_high_risk": True}, "Subject matches everything", HIGH, "subjects"),
        (
            {"subjects": ["repo:acme/*:ref:refs/heads/main"], "allow_high_risk": True},
            "Subject matches many repositories",
            HIGH,
            "subjects",
        ),
        ({"github_repo": "acme/web"}, "Subject uses a wildcard", WARNING, "github_repo"),
        ({"subjects": ["repo:acme/web:ref:refs/heads/release-*"]}, "Subject uses a wildcard", WARNING, "subjects"),
    ],
)
def test_oidc_subject(fields: dict[str, Any], title: str, severity: Severity, concerns: str) -> None:
    finding = the(review(oidc(**fields)), title)
    assert (finding.severity, finding.concerns) == (severity, concerns)
    assert review(request("oidc")) == []
    assert review(oidc(github_repo="acme/web", github_ref_type="environment", github_ref="prod")) == []
    assert review(oidc(subjects=["repo:acme/web:pull_request"])) == []


def test_oidc_wildcard_repositories_are_explained_by_who_gets_in() -> None:
    finding = the(review(oidc(subjects=["repo:acme/*:*"], allow_high_risk=True)), "Subject matches many repositories")
    assert finding.explanation.startswith("Anyone who can run a workflow in any repository of acme can assume")


@pytest.mark.parametrize(
    "fields",
    [
        {"github_repo": "acme/web", "github_ref_type": "branch", "github_ref": "main"},
        {"github_repo": "acme/web"},
        {"subjects": ["repo:acme/web:environment:prod"]},
        {"subjects": ["repo:acme/web-*:*"], "allow_high_risk": True},
        {"subjects": ["*"], "allow_high_risk": True},
        {"provider": "oidc.example.com", "allow_high_risk": True},
        {"provider": "oidc.example.com", "subjects": ["system:*"]},
        {"subjects": ["repository_owner_id:1234:repository_id:5678:*"]},
        {"subjects": ["job_workflow_ref:acme/pipelines/.github/workflows/deploy.yml@refs/heads/*"]},
        {"subjects": ["context:ref:refs/heads/main"], "allow_high_risk": True},
        {"provider": "oidc.example.com", "subjects": ["**"], "allow_high_risk": True},
    ],
)
def test_oidc_high_findings_match_what_the_domain_calls_high_risk(fields: dict[str, Any]) -> None:
    subject = oidc(**fields)
    assert is_high_risk(review(subject)) == bool(subject.high_risk_reasons())


def test_oidc_in_a_custom_trust_policy() -> None:
    aud = {f"{GITHUB}:aud": "sts.amazonaws.com"}
    with pytest.raises(RequestInvalid):
        trusting(oidc_trust({"StringEquals": aud}))  # the domain refuses it since issue 13
    # A request stored before that rule, or built around it, is still caught by the review.
    valid = trusting(oidc_trust({"StringEquals": {**aud, f"{GITHUB}:sub": "repo:acme/web:pull_request"}}))
    stored = valid.model_copy(update={"trust_policy_document": document(oidc_trust({"StringEquals": aud}))})
    findings = review(stored)
    assert the(findings, "No subject restriction").concerns == "trust_policy_document"
    assert "any GitHub repository in the world" in the(findings, "No subject restriction").explanation
    exact = {"StringEquals": {**aud, f"{GITHUB}:sub": "repo:acme/*:ref:refs/heads/main"}}
    assert review(trusting(oidc_trust(exact))) == []


def test_saml_without_audience() -> None:
    provider = f"arn:aws:iam::{ACCOUNT}:saml-provider/Okta"
    statement = {"Effect": "Allow", "Principal": {"Federated": provider}, "Action": "sts:AssumeRoleWithSAML"}
    finding = the(review(trusting(statement)), "SAML audience not checked")
    assert (finding.severity, finding.concerns) == (WARNING, "trust_policy_document")
    assert review(request("saml")) == []


def test_anyone_as_principal_is_refused() -> None:
    root = f"arn:aws:iam::{ACCOUNT}:root"
    valid = trusting({"Effect": "Allow", "Principal": {"AWS": root}, "Action": "sts:AssumeRole"})
    assert review(valid) == []
    assert isinstance(valid, CustomTrustRoleRequest)
    for principal in ("*", {"AWS": "*"}):
        # the domain refuses these; a request built around that rule is refused by the review too
        statement = {"Effect": "Allow", "Principal": principal, "Action": "sts:AssumeRole"}
        stored = valid.model_copy(update={"trust_policy_document": document(statement)})
        with pytest.raises(RequestInvalid) as refused:
            review(stored)
        assert "anyone" in refused.value.errors["trust_policy_document"]


@pytest.mark.parametrize(
    "condition",
    [
        {"Null": {f"{GITHUB}:sub": "false"}},
        {"StringNotEquals": {f"{GITHUB}:sub": "repo:evil/x:ref:refs/heads/main"}},
        {"StringLikeIfExists": {f"{GITHUB}:sub": "repo:acme/web:*"}},
        {"ForAllValues:StringEquals": {f"{GITHUB}:sub": "repo:acme/web:ref:refs/heads/main"}},
    ],
)
def test_subject_conditions_that_restrict_nothing_are_high(condition: dict[str, Any]) -> None:
    aud = {"StringEquals": {f"{GITHUB}:aud": "sts.amazonaws.com"}}
    with pytest.raises(RequestInvalid):
        trusting(oidc_trust({**aud, **condition}))  # the domain refuses a GitHub trust without a real sub
    # A request stored before that rule, or built around it, is still rated high by the review.
    valid = trusting(oidc_trust({"StringEquals": {**aud["StringEquals"], f"{GITHUB}:sub": "repo:acme/web:*"}}))
    stored = valid.model_copy(update={"trust_policy_document": document(oidc_trust({**aud, **condition}))})
    findings = review(stored)
    assert is_high_risk(findings)
    assert {f.title for f in findings} & {"No subject restriction", "Subject matches everything"}


@pytest.mark.parametrize(
    ("host", "subject"),
    [
        (f"{GITHUB}/acme-enterprise", "repo:*"),
        ("gitlab.com", "project_path:*"),
        ("gitlab.com", "project_path:acme*"),
        ("app.terraform.io", "organization:*:project:infra:workspace:prod:run_phase:apply"),
        ("oidc.circleci.com/org/abc", "org/*"),
        ("api.bitbucket.org/2.0/workspaces/acme/pipelines-config/identity/oidc", "*"),
    ],
)
def test_shared_issuers_must_pin_the_organisation(host: str, subject: str) -> None:
    principal = {"Federated": f"arn:aws:iam::{ACCOUNT}:oidc-provider/{host}"}
    statement = {
        "Effect": "Allow",
        "Principal": principal,
        "Action": "sts:AssumeRoleWithWebIdentity",
        "Condition": {"StringLike": {f"{host}:sub": subject}},
    }
    findings = review(trusting(statement))
    assert is_high_risk(findings), findings
    high = [f for f in findings if f.severity == HIGH]
    assert all(f.concerns == "trust_policy_document" for f in high)


def test_a_subject_fixing_the_organisation_is_only_a_wildcard_warning() -> None:
    statement = oidc_trust({"StringLike": {f"{GITHUB}:sub": "repo:acme/web:*"}})
    assert [(f.severity, f.title) for f in review(trusting(statement))] == [(WARNING, "Subject uses a wildcard")]
    gitlab = {"Federated": f"arn:aws:iam::{ACCOUNT}:oidc-provider/gitlab.com"}
    pinned = {**statement, "Principal": gitlab, "Condition": {"StringLike": {"gitlab.com:sub": "project_path:acme/*"}}}
    assert [(f.severity, f.title) for f in review(trusting(pinned))] == [(WARNING, "Subject uses a wildcard")]


def test_a_deny_that_keeps_strangers_out_is_taken_into_account() -> None:
    open_trust = oidc_trust({"StringLike": {f"{GITHUB}:sub": "repo:*"}})
    deny = {**open_trust, "Effect": "Deny", "Condition": {"StringNotLike": {f"{GITHUB}:sub": "repo:acme/web:*"}}}
    assert is_high_risk(review(trusting(open_trust)))
    assert not found(review(trusting(open_trust, deny)), "Subject matches many repositories")


def test_the_enterprise_issuer_stays_high_with_allow_high_risk_ticked() -> None:
    subject = oidc(provider=f"{GITHUB}/acme-enterprise", subjects=["repo:*"], allow_high_risk=True)
    assert is_high_risk(review(subject))


@pytest.mark.parametrize(
    ("operator", "value"),
    [
        ("StringLike", "*"),
        ("StringLike", "partner-*"),
        ("StringNotEquals", "x"),
        ("StringEqualsIfExists", "partner-1"),
        ("StringEqualsIgnoreCase", "partner-1"),
        ("Null", "false"),
    ],
)
def test_only_an_exact_external_id_counts(operator: str, value: str) -> None:
    principal = {"AWS": f"arn:aws:iam::{THIRD_PARTY}:root"}
    statement = {"Effect": "Allow", "Principal": principal, "Action": "sts:AssumeRole"}
    loose = the(
        review(trusting({**statement, "Condition": {operator: {"sts:ExternalId": value}}})),
        "Third-party account without an external ID",
    )
    assert (loose.severity, loose.concerns) == (HIGH, "trust_policy_document")
    exact = review(trusting({**statement, "Condition": {"StringEquals": {"sts:ExternalId": "partner-1"}}}))
    assert [(f.severity, f.title) for f in exact] == [(WARNING, "Account outside the organisation")]


@pytest.mark.parametrize(
    ("principal", "words"),
    [
        ({"AWS": "arn:aws:iam::*:root"}, "wildcard"),
        ({"AWS": f"arn:aws:iam::{THIRD_PARTY}:role/*"}, "wildcard"),
        ({"Service": "*.amazonaws.com"}, "wildcard"),
        ({"AWS": "someone"}, "not an AWS principal"),
        ({"Federated": "login.evil.example"}, "not an identity provider"),
        ({"Federated": "cognito-identity.amazonaws.com"}, "identity pool"),
    ],
)
def test_principals_that_cannot_be_submitted(principal: dict[str, str], words: str) -> None:
    action = "sts:AssumeRoleWithWebIdentity" if "Federated" in principal else "sts:AssumeRole"
    with pytest.raises(RequestInvalid) as refused:
        review(trusting({"Effect": "Allow", "Principal": principal, "Action": action}))
    assert words in refused.value.errors["trust_policy_document"]


def test_web_identity_needs_its_application_pinned() -> None:
    google = {
        "Effect": "Allow",
        "Principal": {"Federated": "accounts.google.com"},
        "Action": "sts:AssumeRoleWithWebIdentity",
    }
    assert the(review(trusting(google)), "Any application of the identity provider").severity == HIGH
    pinned = {**google, "Condition": {"StringEquals": {"accounts.google.com:aud": "1234.apps.googleusercontent.com"}}}
    assert review(trusting(pinned)) == []
    cognito = {
        **google,
        "Principal": {"Federated": "cognito-identity.amazonaws.com"},
        "Condition": {"StringEquals": {"cognito-identity.amazonaws.com:aud": "us-east-1:pool"}},
    }
    assert the(review(trusting(cognito)), "Cognito guests and signed-in users alike").severity == HIGH
    signed_in = {"ForAnyValue:StringLike": {"cognito-identity.amazonaws.com:amr": "authenticated"}}
    assert review(trusting({**cognito, "Condition": {**cognito["Condition"], **signed_in}})) == []


def test_confused_deputy_keys_where_the_service_supports_them() -> None:
    title = "No confused-deputy protection"
    finding = the(review(request("service", service_principal="states.amazonaws.com")), title)
    assert (finding.severity, finding.concerns) == (INFO, "service_principal")
    assert review(request("service", service_principal="states.amazonaws.com", restrict_source_account=True)) == []
    assert review(request("service")) == []  # Lambda does not document the keys for its role
    statement = {"Effect": "Allow", "Principal": {"Service": "codebuild.amazonaws.com"}, "Action": "sts:AssumeRole"}
    assert the(review(trusting(statement)), title).concerns == "trust_policy_document"


def test_service_linked_role() -> None:
    (finding,) = review(request("service-linked"))
    assert (finding.severity, finding.title) == (INFO, "Permissions defined by AWS")
    assert finding.concerns == "aws_service_name"
    assert found(review(request("service")), finding.title) == []


# --- IAM Access Analyzer ----------------------------------------------------------------------


def test_access_analyzer_findings_on_both_documents() -> None:
    calls: list[tuple[dict[str, Any], str]] = []

    def validate(document_json: str, policy_type: str) -> list[dict[str, Any]]:
        calls.append((json.loads(document_json), policy_type))
        kind = "SECURITY_WARNING" if policy_type == IDENTITY_POLICY else "SUGGESTION"
        return [{"findingType": kind, "issueCode": "SOME_ISSUE", "findingDetails": "Details.", "learnMoreLink": "L"}]

    policy = document(allow("s3:GetObject", BUCKET))
    subject = request(inline_policy=policy)
    findings = review(subject, validate_policy=validate)
    assert calls == [(subject.trust_policy(), TRUST_POLICY), (policy, IDENTITY_POLICY)]
    assert [(f.severity, f.title, f.concerns) for f in findings] == [
        (HIGH, "Access Analyzer: Some issue", "inline_policy"),
        (INFO, "Access Analyzer: Some issue", "trusted_principal_arns"),
    ]
    assert findings[0].explanation == "In the inline policy: Details. (L)"
    assert review(subject, validate_policy=lambda document_json, policy_type: []) == []


def test_access_analyzer_unreachable_is_one_info_finding() -> None:
    def unreachable(document_json: str, policy_type: str) -> list[dict[str, Any]]:
        raise NotImplementedError("The validate_policy action has not been implemented")

    findings = review(with_policy(allow("s3:GetObject", BUCKET)), validate_policy=unreachable)
    assert [(f.severity, f.title) for f in findings] == [(INFO, "Access Analyzer unavailable")]
    assert review(request("service-linked"), validate_policy=unreachable) == review(request("service-linked"))


# --- the findings themselves ------------------------------------------------------------------


def test_severities_are_ordered() -> None:
    assert INFO < WARNING < HIGH and HIGH >= WARNING and INFO <= INFO
    assert sorted([HIGH, INFO, WARNING]) == [INFO, WARNING, HIGH] and max(Severity) is HIGH
    assert Severity("warning") == "warning"


def test_findings_are_sorted_most_severe_first_without_repeats() -> None:
    subject = request(
        trusted_account_ids=[OURS],
        inline_policy=document(allow("ecr:GetAuthorizationToken"), allow("iam:PassRole")),
    )
    severities = [f.severity for f in review(subject, known_accounts=[OURS])]
    assert severities == [HIGH, WARNING, INFO]
    doubled = with_policy(allow("iam:CreateAccessKey"), allow("iam:CreateAccessKey"))
    assert len(found(review(doubled), "Can create access keys for IAM users")) == 1


def test_is_high_risk() -> None:
    assert is_high_risk(review(with_policy(allow("*"))))
    assert not is_high_risk(review(request("service-linked")))
    assert not is_high_risk([])


def test_group_by_severity() -> None:
    high = Finding(HIGH, "a", "A.", "inline_policy")
    info = [Finding(INFO, "b", "B.", "role_name"), Finding(INFO, "c", "C.", "role_name")]
    assert group_by_severity([info[0], high, info[1]]) == [(HIGH, [high]), (INFO, info)]
    assert group_by_severity([]) == []


def test_finding_round_trips_through_a_dict() -> None:
    finding = Finding(WARNING, "Title", "Explanation.", "inline_policy")
    data = finding.to_dict()
    assert data == {"severity": "warning", "title": "Title", "explanation": "Explanation.", "concerns": "inline_policy"}
    assert Finding.from_dict(json.loads(json.dumps(data))) == finding


# --- deleting a role -----------------------------------------------------------------------------


def test_deleting_a_role_always_says_when_it_was_last_used_and_warns_when_recent() -> None:
    now = datetime(2026, 11, 30, tzinfo=UTC)
    base = RoleToRetire("111122223333", "old", "arn:aws:iam::111122223333:role/old", "R-1", None, None, (), (), ())

    never = retirement_findings(base, now)
    assert [(f.severity, f.title) for f in never] == [(Severity.INFO, "Not used recently")]

    recent = replace(base, last_used_at="2026-11-27T09:00:00+00:00", last_used_region="eu-west-1")
    assert [(f.severity, f.title) for f in retirement_findings(recent, now)] == [
        (Severity.WARNING, "Used 2 day(s) ago")
    ]

    long_ago = replace(
        base, last_used_at="2025-11-28T09:00:00+00:00", instance_profiles=(InstanceProfile("old", True),)
    )
    assert [(f.severity, f.title) for f in retirement_findings(long_ago, now)] == [
        (Severity.WARNING, "Instance profile in use by EC2?"),
        (Severity.INFO, "Last used 366 days ago"),
    ]
