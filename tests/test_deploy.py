"""Deployment files: CloudFormation lint and least privilege, Slack manifest, Docker files."""

import json
import re
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from cfnlint.api import lint
from cfnlint.decode.cfn_yaml import load as load_cfn
from cfnlint.rules import Match

from bot.sandbox.fake_slack import METHOD_SCOPES
from tests.cfn_lint import cfn_lint_rules

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
CFN = DEPLOY / "cloudformation"
TEMPLATES = ("bot-role.yml", "permissions-boundary.yml", "executor-role.yml")
# (template, logical id of the role the bot acts as)
BOT_ROLES = [("bot-role.yml", "BotRole"), ("executor-role.yml", "ExecutorRole")]

BOUNDARY_KEY = "iam:PermissionsBoundary"
BOUNDARY_GATED = ("iam:CreateRole", "iam:AttachRolePolicy", "iam:PutRolePolicy")
READ_ONLY = {
    "iam:GetRole",
    "iam:ListRoleTags",
    "iam:ListAttachedRolePolicies",
    "iam:ListRolePolicies",
    "iam:GetRolePolicy",
    "iam:GetPolicy",
    "iam:GetPolicyVersion",
    "iam:ListPolicies",
    "iam:ListRoles",
    "iam:ListOpenIDConnectProviders",
    "iam:GetOpenIDConnectProvider",
    "iam:ListSAMLProviders",
    "iam:GetSAMLProvider",
    "iam:GetAccountSummary",
    "iam:ListInstanceProfilesForRole",
    "iam:GetInstanceProfile",
    "sts:GetCallerIdentity",
    "access-analyzer:ValidatePolicy",
    "access-analyzer:CheckNoNewAccess",
}
REQUIRED_DENIES = {
    "iam:DeleteRolePermissionsBoundary",
    "iam:PutRolePermissionsBoundary",
    "iam:CreatePolicyVersion",
    "iam:SetDefaultPolicyVersion",
    "iam:DeletePolicyVersion",
}
Templates = dict[str, dict[str, Any]]
OPTIONAL_SCOPES = {"usergroups:read": "usergroups.users.list"}
"""Scopes the manifest leaves to the installer, and the one method each is for (only with a user group)."""
WEB_API_CALL = re.compile(r"""["']((?:chat|views|users|usergroups|conversations|files|auth)\.[A-Za-z.]+)["']""")
SDK_CALL = re.compile(r"\bclient\.((?:chat|views|users|usergroups|conversations|files)_[a-z0-9_]+)\(")
SDK_HELPERS = {"files_upload_v2": {"files.getUploadURLExternal", "files.completeUploadExternal"}}
"""slack_sdk methods that make several Web API calls, and the calls they make."""
SECRET_RE = re.compile(r"token|secret|password|xox[abpe]-|xapp-", re.IGNORECASE)

BROKEN_TEMPLATE = """
AWSTemplateFormatVersion: "2010-09-09"
Resources:
  Role:
    Type: AWS::IAM::Role
    Properties:
      AssumeRolePolicyDocument: !GetAtt Missing.Arn
"""


# --- helpers -------------------------------------------------------------------------------


def serious(matches: list[Match]) -> list[str]:
    """Errors and warnings (informational findings are ignored), as readable lines."""
    return [f"{m.rule.id} line {m.linenumber}: {m.message}" for m in matches if m.rule.id[0] in "EW"]


def statements(document: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Policy statements, with both branches of ``Fn::If`` (minus ``AWS::NoValue``)."""
    items = document["Statement"]
    for item in items if isinstance(items, list) else [items]:
        branches = item["Fn::If"][1:] if "Fn::If" in item else [item]
        for branch in branches:
            if branch != {"Ref": "AWS::NoValue"}:
                yield branch


def actions(statement: dict[str, Any]) -> list[str]:
    """The statement's ``Action`` as a list."""
    action = statement.get("Action", [])
    return [action] if isinstance(action, str) else list(action)


def role_statements(template: dict[str, Any], logical_id: str) -> list[dict[str, Any]]:
    """All statements of the inline policies of a role resource."""
    props = template["Resources"][logical_id]["Properties"]
    return [s for policy in props["Policies"] for s in statements(policy["PolicyDocument"])]


def allows(stmts: list[dict[str, Any]], action: str) -> list[dict[str, Any]]:
    """Allow statements that name ``action``."""
    return [s for s in stmts if s["Effect"] == "Allow" and action in actions(s)]


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs of deploy/Dockerfile, continuation lines joined."""
    logical: list[str] = []
    pending = ""
    for raw in (DEPLOY / "Dockerfile").read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        logical.append(pending + line)
        pending = ""
    pairs = []
    for line in logical:
        instruction, _, args = line.partition(" ")
        pairs.append((instruction.upper(), args.strip()))
    return pairs


# --- fixtures ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def lint_results() -> dict[str, list[Match]]:
    """cfn-lint findings, one run per template."""
    return {name: lint((CFN / name).read_text(), rules=cfn_lint_rules()) for name in TEMPLATES}


@pytest.fixture(scope="module")
def templates() -> Templates:
    """Templates parsed with cfn-lint's loader (short-form tags become ``Fn::*`` dicts)."""
    return {name: load_cfn(str(CFN / name)) for name in TEMPLATES}


@pytest.fixture(scope="module")
def manifest() -> dict[str, Any]:
    return yaml.safe_load((DEPLOY / "slack-app-manifest.yml").read_text())


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())


# --- CloudFormation: lint ------------------------------------------------------------------


@pytest.mark.parametrize("name", TEMPLATES)
def test_template_passes_cfn_lint(lint_results: dict[str, list[Match]], name: str) -> None:
    assert serious(lint_results[name]) == []


def test_lint_harness_reports_a_broken_template() -> None:
    """Guards the test above: an empty result must mean a clean template, not a silent linter."""
    assert any(line.startswith("E") for line in serious(lint(BROKEN_TEMPLATE, rules=cfn_lint_rules())))


# --- CloudFormation: the bot role and the executor role ------------------------------------


@pytest.mark.parametrize(("name", "role"), BOT_ROLES)
def test_no_wildcard_actions_allowed(templates: Templates, name: str, role: str) -> None:
    for stmt in role_statements(templates[name], role):
        if stmt["Effect"] == "Allow":
            assert "NotAction" not in stmt
            assert not [a for a in actions(stmt) if "*" in a], stmt.get("Sid")


@pytest.mark.parametrize(("name", "role"), BOT_ROLES)
def test_only_read_only_actions_on_every_resource(templates: Templates, name: str, role: str) -> None:
    for stmt in role_statements(templates[name], role):
        if stmt["Effect"] == "Allow" and stmt["Resource"] == "*":
            assert set(actions(stmt)) <= READ_ONLY, stmt.get("Sid")


@pytest.mark.parametrize(("name", "role"), BOT_ROLES)
def test_role_writes_need_the_boundary_and_the_path(templates: Templates, name: str, role: str) -> None:
    stmts = role_statements(templates[name], role)
    for action in BOUNDARY_GATED:
        granting = allows(stmts, action)
        assert granting, f"{action} is never allowed"
        for stmt in granting:
            assert BOUNDARY_KEY in stmt["Condition"]["StringEquals"]
            assert "role${RolePath}*" in stmt["Resource"]["Fn::Sub"]
    denied = [s for s in stmts if s["Effect"] == "Deny" and "iam:CreateRole" in actions(s)]
    assert denied and all(BOUNDARY_KEY in s["Condition"]["StringNotEquals"] for s in denied)


@pytest.mark.parametrize(("name", "role"), BOT_ROLES)
def test_pass_role_only_to_ec2_under_the_path(templates: Templates, name: str, role: str) -> None:
    granting = allows(role_statements(templates[name], role), "iam:PassRole")
    assert granting
    for stmt in granting:
        assert stmt["Condition"]["StringEquals"]["iam:PassedToService"] == ["ec2.amazonaws.com", "ec2.amazonaws.com.cn"]
        assert "role${RolePath}*" in stmt["Resource"]["Fn::Sub"]


@pytest.mark.parametrize(("name", "role"), BOT_ROLES)
def test_service_linked_roles_only_for_listed_services(templates: Templates, name: str, role: str) -> None:
    granting = allows(role_statements(templates[name], role), "iam:CreateServiceLinkedRole")
    assert granting
    for stmt in granting:
        names = stmt["Condition"]["StringEquals"]["iam:AWSServiceName"]
        assert names == {"Ref": "AllowedServiceLinkedServices"}


@pytest.mark.parametrize(("name", "role"), BOT_ROLES)
def test_explicit_denies(templates: Templates, name: str, role: str) -> None:
    denies = [s for s in role_statements(templates[name], role) if s["Effect"] == "Deny"]
    assert all(s["Resource"] == "*" for s in denies)
    assert {a for s in denies for a in actions(s)} >= REQUIRED_DENIES
    for stmt in denies:
        if "iam:PutRolePermissionsBoundary" in actions(stmt):
            assert BOUNDARY_KEY in stmt["Condition"]["StringNotEquals"]


def test_bot_assumes_only_the_executor_role(templates: Templates) -> None:
    granting = allows(role_statements(templates["bot-role.yml"], "BotRole"), "sts:AssumeRole")
    assert len(granting) == 1
    (stmt,) = granting
    assert stmt["Resource"]["Fn::Sub"].endswith(":role/${ExecutorRoleName}")
    assert stmt["Condition"]["StringEquals"]["aws:ResourceAccount"] == {"Ref": "MemberAccountIds"}
    # Without member accounts the statement disappears rather than matching nothing.
    policy = templates["bot-role.yml"]["Resources"]["BotRole"]["Properties"]["Policies"][0]
    wrapped = [s["Fn::If"] for s in policy["PolicyDocument"]["Statement"] if "Fn::If" in s]
    assert any(w[0] == "HasMemberAccounts" and w[1] == stmt for w in wrapped)


def test_executor_cannot_assume_roles_onward(templates: Templates) -> None:
    stmts = role_statements(templates["executor-role.yml"], "ExecutorRole")
    for stmt in stmts:
        if stmt["Effect"] == "Allow":
            assert not [a for a in actions(stmt) if a.startswith("sts:AssumeRole")]


def test_executor_trusts_the_bot_with_an_external_id(
    templates: Templates,
) -> None:
    template = templates["executor-role.yml"]
    assert template["Parameters"]["ExternalId"]["NoEcho"] is True
    props = template["Resources"]["ExecutorRole"]["Properties"]
    assert props["RoleName"] == {"Ref": "ExecutorRoleName"}
    (trust,) = statements(props["AssumeRolePolicyDocument"])
    assert trust["Principal"] == {"AWS": {"Ref": "BotRoleArn"}}
    assert trust["Condition"]["StringEquals"]["sts:ExternalId"] == {"Ref": "ExternalId"}


def test_executor_permissions_mirror_the_bot_role(templates: Templates) -> None:
    def shape(stmts: list[dict[str, Any]]) -> dict[str, tuple[str, list[str]]]:
        return {s["Sid"]: (s["Effect"], sorted(actions(s))) for s in stmts}

    bot = shape(role_statements(templates["bot-role.yml"], "BotRole"))
    bot.pop("AssumeExecutorInMemberAccounts")
    assert shape(role_statements(templates["executor-role.yml"], "ExecutorRole")) == bot


def test_bot_role_outputs_its_arn(templates: Templates) -> None:
    outputs = templates["bot-role.yml"]["Outputs"]
    assert outputs["BotRoleArn"]["Value"] == {"Fn::GetAtt": ["BotRole", "Arn"]}
    assert templates["bot-role.yml"]["Resources"]["BotRole"]["Properties"]["Path"] == "/"


# --- CloudFormation: the permissions boundary ----------------------------------------------


def boundary_document(template: dict[str, Any]) -> dict[str, Any]:
    return template["Resources"]["PermissionsBoundary"]["Properties"]["PolicyDocument"]


def test_boundary_denies_escalation(templates: Templates) -> None:
    stmts = list(statements(boundary_document(templates["permissions-boundary.yml"])))
    denied = {a for s in stmts if s["Effect"] == "Deny" for a in actions(s)}
    assert {
        "iam:CreateUser",
        "iam:CreateAccessKey",
        "iam:CreateLoginProfile",
        "iam:CreatePolicy",
        "iam:CreatePolicyVersion",
        "iam:SetDefaultPolicyVersion",
        "iam:CreateRole",
        "iam:AttachRolePolicy",
        "iam:PutRolePolicy",
        "iam:UpdateAssumeRolePolicy",
        "iam:DeleteRolePermissionsBoundary",
        "iam:PutRolePermissionsBoundary",
        "organizations:*",
        "cloudtrail:StopLogging",
        "cloudtrail:Delete*",
    } <= denied
    (pass_role,) = [s for s in stmts if s["Effect"] == "Deny" and "iam:PassRole" in actions(s)]
    assert "role${RolePath}*" in pass_role["NotResource"]["Fn::Sub"]


def test_boundary_is_the_same_in_every_account(templates: Templates) -> None:
    assert boundary_document(templates["executor-role.yml"]) == boundary_document(templates["permissions-boundary.yml"])
    outputs = templates["permissions-boundary.yml"]["Outputs"]
    assert outputs["PermissionsBoundaryArn"]["Value"] == {"Ref": "PermissionsBoundary"}


# --- Slack app manifest --------------------------------------------------------------------


def test_manifest_slash_command(manifest: dict[str, Any]) -> None:
    (command,) = manifest["features"]["slash_commands"]
    assert command["command"] == "/iam-role"
    assert command["should_escape"] is False
    for word in ("user", "service", "service-linked", "saml", "oidc", "custom", "list", "help"):
        assert word in command["usage_hint"]
    assert "status ID" in command["usage_hint"]


def test_manifest_features_and_settings(manifest: dict[str, Any]) -> None:
    assert manifest["display_information"]["name"] == "IAM Role Bot"
    assert manifest["features"]["bot_user"]["display_name"]
    home = manifest["features"]["app_home"]
    assert home["home_tab_enabled"] is True
    assert home["messages_tab_enabled"] is True
    settings = manifest["settings"]
    assert settings["interactivity"]["is_enabled"] is True
    assert settings["socket_mode_enabled"] is True
    assert settings["event_subscriptions"]["bot_events"] == ["app_home_opened"]


def web_api_methods_called() -> set[str]:
    """Every Web API method the production code names (``"chat.postMessage"`` or ``client.chat_postMessage(``)."""
    code = DEPLOY.parent / "bot"
    methods: set[str] = set()
    for path in code.rglob("*.py"):
        if "sandbox" in path.parts:
            continue
        text = path.read_text()
        methods |= set(WEB_API_CALL.findall(text))
        for name in SDK_CALL.findall(text):
            methods |= SDK_HELPERS.get(name, {name.replace("_", ".")})
    return methods


def test_manifest_scopes_are_exactly_what_the_bot_calls(manifest: dict[str, Any]) -> None:
    """Derived from the code: each method the bot calls needs the scope Slack's method page names (METHOD_SCOPES)."""
    called = web_api_methods_called()
    assert {"chat.postMessage", "chat.update", "views.open", "usergroups.users.list"} <= called
    needed = {METHOD_SCOPES[method] for method in called} - {None}
    scopes = manifest["oauth_config"]["scopes"]
    assert set(scopes["bot"]) == {"commands"} | (needed - set(OPTIONAL_SCOPES))
    assert "user" not in scopes
    for scope, method in OPTIONAL_SCOPES.items():
        assert METHOD_SCOPES[method] == scope
        assert re.search(rf"#.*\b{re.escape(scope)}\b", (DEPLOY / "slack-app-manifest.yml").read_text())


def test_manifest_documents_http_mode_urls() -> None:
    text = (DEPLOY / "slack-app-manifest.yml").read_text()
    for key in ("url", "request_url", "message_menu_options_url"):
        assert re.search(rf"#.*\b{key}:\s+https://YOUR-HOST/slack/events", text), key


# --- Docker --------------------------------------------------------------------------------


def test_dockerfile_runs_as_non_root() -> None:
    instructions = dockerfile_instructions()
    last_from = max(i for i, (ins, _) in enumerate(instructions) if ins == "FROM")
    users = [args for ins, args in instructions[last_from:] if ins == "USER"]
    assert users, "the final stage must set USER"
    assert users[-1].split(":")[0] not in {"root", "0"}


def test_dockerfile_healthcheck_uses_python() -> None:
    (check,) = [args for ins, args in dockerfile_instructions() if ins == "HEALTHCHECK"]
    command = json.loads(check[check.index("CMD") + len("CMD") :])
    assert command[:2] == ["python", "-c"]
    compile(command[2], "<healthcheck>", "exec")
    assert "/healthz" in command[2] and "urllib" in command[2]
    assert "curl" not in check


def test_dockerfile_runtime_settings() -> None:
    instructions = dockerfile_instructions()
    by_kind: dict[str, list[str]] = {}
    for ins, args in instructions:
        by_kind.setdefault(ins, []).append(args)
    assert json.loads(by_kind["CMD"][-1]) == ["iam-role-bot", "serve"]
    assert "3000" in by_kind["EXPOSE"]
    assert any("/data" in v for v in by_kind["VOLUME"])
    assert any("DATABASE_PATH=/data/iam-role-bot.db" in e for e in by_kind["ENV"])
    assert any(a.startswith("PYTHON_IMAGE=python:3.11-slim") for a in by_kind["ARG"])


def test_dockerfile_installs_the_bare_package_without_the_sandbox() -> None:
    installs = [args for ins, args in dockerfile_instructions() if ins == "RUN" and "pip install" in args]
    assert installs
    for args in installs:
        targets = re.findall(r"pip install\s+(\S+)", args)
        assert targets == ["."], args
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert not [dep for dep in project["dependencies"] if dep.startswith("moto")]
    assert any(dep.startswith("moto") for dep in project["optional-dependencies"]["sandbox"])


def test_dockerfile_bakes_in_no_secrets() -> None:
    for ins, args in dockerfile_instructions():
        if ins in {"ENV", "ARG"}:
            assert not SECRET_RE.search(args), f"{ins} {args}"


def test_dockerignore_keeps_junk_and_secrets_out() -> None:
    patterns = {
        line.strip()
        for line in (DEPLOY / "Dockerfile.dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    assert {".venv", ".git", ".env", "**/*.db", ".pytest_cache"} <= patterns


def test_compose_service(compose: dict[str, Any]) -> None:
    bot = compose["services"]["bot"]
    build = bot["build"]
    assert build["context"] == ".."
    assert (DEPLOY / build["context"] / build["dockerfile"]).resolve() == DEPLOY / "Dockerfile"
    assert bot["env_file"] == ["../.env"]
    assert "3000:3000" in bot["ports"]
    assert bot["restart"] == "unless-stopped"
    (data,) = [v for v in bot["volumes"] if v.endswith(":/data")]
    assert data.split(":")[0] in compose["volumes"]
    for key, value in bot.get("environment", {}).items():
        assert not SECRET_RE.search(f"{key}={value}")
