"""The role as code follows every change made through the bot: an edit's thread gets the role's whole new
state (deployed with moto's CloudFormation into a second account, it is the edited role), the export
repository gets one commit per create, edit and delete (a delete, asked for or at expiry, removes the
file), a retried push never brings back an older state, and the CLI prints the new state or says a
deleted role has none."""

import json
from collections.abc import Callable
from pathlib import Path

import boto3
import pytest

from bot.cli import main
from bot.config import GitExport, Policy
from bot.export import export_role, file_name
from bot.lifecycle import EventKind
from bot.role_code import role_as_code
from bot.sandbox.stack import BotStack
from tests.e2e import (
    APPROVER,
    OUTSIDER,
    REQUESTER,
    approved_deletion,
    approved_edit,
    click,
    request_role,
    said,
    thread_replies,
)
from tests.test_export import deploy, described, lint_findings, managed, session_in_second_account
from tests.test_role_code import bare_repository, create, git

READ_ONLY = "arn:aws:iam::aws:policy/ReadOnlyAccess"
WIDER = '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:ListBucket", "Resource": "*"}]}'


def edited(stack: BotStack, name: str) -> str:
    """Edit the role through the bot (a managed policy, another inline policy, a tag); the edit request's id."""
    answers = {"managed_policy_arns": [READ_ONLY], "inline_policy": WIDER, "tags": "team=data", "justification": "x"}
    return approved_edit(stack, name, answers)


def deleted(stack: BotStack, name: str) -> str:
    return approved_deletion(stack, OUTSIDER, name)


def test_the_edit_thread_gets_the_edited_role_which_deploys_as_the_role_in_aws(
    stack: BotStack, aws: boto3.Session
) -> None:
    made = create(stack, "re-coded")
    edit_id = edited(stack, "re-coded")
    store = stack.runtime.store
    edit = store.get(edit_id)
    role = role_as_code(store, edit)

    in_thread = [f for f in stack.slack.shared_files() if f.thread_ts == edit.message_ts]
    assert {(f.filename, f.content.decode()) for f in in_thread} == {
        (file_name(role, fmt), export_role(role, fmt)) for fmt in ("cloudformation", "terraform")
    }
    assert (role.request_id, role.changed_by) == (made, edit_id)
    assert f"last changed by request {edit_id}" in export_role(role, "terraform")

    template = export_role(role, "cloudformation")
    assert lint_findings(template) == []
    elsewhere = session_in_second_account(aws)
    deploy(elsewhere, template)
    home, second = aws.client("iam"), elsewhere.client("iam")
    now = described(home, "re-coded")
    assert described(second, "re-coded") == now
    assert json.loads(WIDER) in now["inline"].values() and ("team", "data") in now["tags"]
    assert now["profiles"]  # the EC2 role keeps its instance profile
    properties = json.loads(template)["Resources"]["Role"]["Properties"]
    assert sorted(properties["ManagedPolicyArns"]) == managed(home, "re-coded") == [READ_ONLY]


def test_the_cli_prints_the_edited_state_and_refuses_a_deleted_role(
    stack: BotStack, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    create(stack, "cli-changes")
    edit_id = edited(stack, "cli-changes")
    retire_id = deleted(stack, "cli-changes")
    monkeypatch.setenv("DATABASE_PATH", stack.settings.database_path)
    capsys.readouterr()

    assert main(["requests", "export", edit_id, "--format", "cloudformation"]) == 0
    template = json.loads(capsys.readouterr().out)
    assert json.loads(WIDER) in [p["PolicyDocument"] for p in template["Resources"]["Role"]["Properties"]["Policies"]]
    assert main(["requests", "export", retire_id, "--format", "terraform"]) == 1
    captured = capsys.readouterr()
    assert captured.out == "" and "no longer exists, so there is nothing to export" in captured.err


def test_a_delete_says_in_its_thread_that_the_role_has_no_code_now(stack: BotStack) -> None:
    create(stack, "gone-code")
    retire_id = deleted(stack, "gone-code")

    assert any("no longer exists, so it has no code" in said(c) for c in thread_replies(stack, retire_id))
    retire = stack.runtime.store.get(retire_id)
    assert [f for f in stack.slack.shared_files() if f.thread_ts == retire.message_ts] == []


@pytest.fixture
def repository(tmp_path: Path) -> Path:
    return bare_repository(tmp_path / "roles.git")


def git_stack(make_stack: Callable[..., BotStack], repository: Path) -> BotStack:
    export = GitExport(repository=str(repository), branch="iam", path_template="roles/{account_id}/{role_name}.tf")
    return make_stack(policy=Policy(export=export))


def test_create_edit_and_delete_are_one_commit_each_and_the_delete_removes_the_file(
    make_stack: Callable[..., BotStack], repository: Path
) -> None:
    stack = git_stack(make_stack, repository)
    made = create(stack, "git-life")
    store = stack.runtime.store
    path = f"roles/{role_as_code(store, store.get(made)).account_id}/git-life.tf"
    edit_id = edited(stack, "git-life")

    assert git(repository, "show", f"iam:{path}") == export_role(role_as_code(store, store.get(edit_id)), "terraform")
    message = git(repository, "log", "-1", "--format=%B", "iam")
    assert "git-life" in message and "changed by iam-role-bot" in message
    assert f"Request: {edit_id}\nRequester: {REQUESTER}\nApprovers: {APPROVER}" in message

    retire_id = deleted(stack, "git-life")

    assert git(repository, "ls-tree", "-r", "--name-only", "iam") == ""
    message = git(repository, "log", "-1", "--format=%B", "iam")
    assert "deleted by iam-role-bot" in message and f"Request: {retire_id}\nRequester: {OUTSIDER}" in message
    assert git(repository, "log", "--format=%s", "iam").count("git-life") == 3
    assert [e.kind for e in store.events(retire_id)][-1] == EventKind.GIT_EXPORTED


def test_an_expired_role_leaves_the_repository_in_a_commit_by_the_bot(
    make_stack: Callable[..., BotStack], repository: Path
) -> None:
    stack = git_stack(make_stack, repository)
    made = request_role(
        stack, "service", {"role_name": "git-day", "service_principal": "ec2.amazonaws.com", "expires_after_days": "1"}
    )
    click(stack, APPROVER, "approve", made)
    stack.runtime.bot.housekeeping(now=stack.runtime.store.get(made).expires_at + 1)
    stack.settle()

    retire = stack.runtime.store.get(stack.runtime.store.get(made).expiry_request_id)
    assert retire.status == "deleted"
    assert git(repository, "ls-tree", "-r", "--name-only", "iam") == ""
    message = git(repository, "log", "-1", "--format=%B", "iam")
    assert "deleted at its expiry" in message
    assert "Requester: iam-role-bot\nApprovers: iam-role-bot" in message


def test_a_retried_push_never_brings_back_an_older_state(
    make_stack: Callable[..., BotStack], tmp_path: Path, aws: boto3.Session
) -> None:
    missing = tmp_path / "not-yet.git"
    stack = make_stack(policy=Policy(export=GitExport(repository=str(missing))))
    made = create(stack, "git-retry")
    edit_id = edited(stack, "git-retry")  # both pushes fail: no repository yet
    store = stack.runtime.store
    assert any("could not be committed" in said(c) for c in thread_replies(stack, edit_id))
    assert aws.client("iam").list_attached_role_policies(RoleName="git-retry")["AttachedPolicies"]

    bare_repository(missing)
    stack.runtime.bot.housekeeping()

    assert git(missing, "log", "--format=%s", "main").count("git-retry") == 1
    (path,) = git(missing, "ls-tree", "-r", "--name-only", "main").split()
    assert git(missing, "show", f"main:{path}") == export_role(role_as_code(store, store.get(edit_id)), "terraform")
    assert [e.kind for e in store.events(made)].count(EventKind.GIT_EXPORTED) == 0

    deleted(stack, "git-retry")
    stack.runtime.bot.housekeeping()  # the create's failed export is older than the delete: never retried
    assert git(missing, "ls-tree", "-r", "--name-only", "main") == ""
