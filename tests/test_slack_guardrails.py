"""Guardrails over HTTP: violations come back as field errors; a required boundary is added and applied."""

import json
from collections.abc import Callable

import boto3

from bot.config import Policy
from bot.guardrails import Guardrails
from bot.sandbox.stack import BotStack
from tests.e2e import APPROVER, REQUESTER, click, open_modal, request_role, submit

BOUNDARY = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}


def account_of(aws: boto3.Session) -> str:
    return aws.client("sts").get_caller_identity()["Account"]


def test_violations_are_field_errors_and_nothing_is_recorded(
    make_stack: Callable[..., BotStack], aws: boto3.Session
) -> None:
    guardrails = Guardrails(
        role_name_prefix="app-", forbidden_managed_policies=["AdministratorAccess"], max_session_duration=7200
    )
    stack = make_stack(policy=Policy(guardrails=guardrails))
    view = open_modal(stack, REQUESTER, "user")
    answer = submit(
        stack,
        REQUESTER,
        view,
        {
            "account_id": account_of(aws),
            "role_name": "ops-admin",
            "max_session_duration": "43200",
            "managed_policy_arns": ["arn:aws:iam::aws:policy/AdministratorAccess"],
            "justification": "Because.",
        },
    )
    assert answer is not None and answer["response_action"] == "errors"
    errors = answer["errors"]
    assert "app-" in errors["role_name"]
    assert "AdministratorAccess" in errors["managed_policy_arns"]
    assert "7200" in errors["max_session_duration"]
    assert stack.runtime.store.count() == 0


def test_refused_high_risk_is_a_field_error(make_stack: Callable[..., BotStack], aws: boto3.Session) -> None:
    stack = make_stack(policy=Policy(guardrails=Guardrails(high_risk="refuse")))
    view = open_modal(stack, REQUESTER, "oidc")
    answer = submit(
        stack,
        REQUESTER,
        view,
        {
            "account_id": account_of(aws),
            "role_name": "any-repo",
            "github_repo": "acme/web",
            "subjects": "repo:acme/*",
            "allow_high_risk": True,
            "justification": "Every repository deploys.",
        },
    )
    assert answer is not None and "does not allow" in " ".join(answer["errors"].values())
    assert stack.runtime.store.count() == 0


def test_required_boundary_is_added_to_the_plan_and_to_the_role(
    make_stack: Callable[..., BotStack], aws: boto3.Session
) -> None:
    iam = aws.client("iam")
    boundary = iam.create_policy(PolicyName="team-boundary", PolicyDocument=json.dumps(BOUNDARY))["Policy"]["Arn"]
    try:
        template = boundary.replace(account_of(aws), "{account_id}")
        stack = make_stack(policy=Policy(guardrails=Guardrails(required_boundary_arn=template)))
        answers = {"role_name": "bounded", "service_principal": "lambda.amazonaws.com"}
        request_id = request_role(stack, "service", answers)
        assert stack.runtime.store.get(request_id).request.permissions_boundary_arn == boundary
        click(stack, APPROVER, "approve", request_id)
        role = iam.get_role(RoleName="bounded")["Role"]
        assert role["PermissionsBoundary"]["PermissionsBoundaryArn"] == boundary
    finally:
        for role in iam.list_roles()["Roles"]:
            iam.delete_role(RoleName=role["RoleName"])
        iam.delete_policy(PolicyArn=boundary)
