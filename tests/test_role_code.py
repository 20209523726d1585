"""The role as code reaches people: a file in the request's thread (through the fake Slack's strict
files.getUploadURLExternal / upload / files.completeUploadExternal), a commit in a git repository
(a local bare one), and the CLI. A failed upload or push never undoes the role."""

import dataclasses
import json
import socket
import subprocess
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackRequestError

from bot.cli import main
from bot.config import GitExport, Policy
from bot.export import export_role, file_name
from bot.git_export import GitExportError, GitRepository, masked
from bot.lifecycle import EventKind
from bot.role_code import role_as_code
from bot.sandbox.fake_slack import FakeSlack
from bot.sandbox.stack import BotStack
from tests.e2e import APPROVER, REQUESTER, click, request_role, said, thread_replies

POLICY = '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]}'


def bare_repository(path: Path) -> Path:
    subprocess.run(["git", "init", "-q", "--bare", str(path)], check=True)
    return path


def git(repository: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "--git-dir", str(repository), *args], check=True, capture_output=True, text=True
    ).stdout


def create(stack: BotStack, role_name: str, **answers: object) -> str:
    request_id = request_role(
        stack,
        "service",
        {"role_name": role_name, "service_principal": "ec2.amazonaws.com", "inline_policy": POLICY, **answers},
    )
    click(stack, APPROVER, "approve", request_id)
    assert stack.runtime.store.get(request_id).status == "created"
    return request_id


# --- the fake Slack's file upload is as strict as Slack -------------------------------------------


def upload(url: str, data: bytes) -> int:
    """POST the bytes to an upload URL as slack_sdk does; the HTTP status."""
    try:
        with urllib.request.urlopen(urllib.request.Request(url, data=data, method="POST"), timeout=5) as answer:
            return answer.status
    except urllib.error.HTTPError as error:
        return error.code


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    with FakeSlack(channels=["C1"]) as fake:
        yield fake


def test_files_upload_v2_shares_the_bytes_in_the_thread(slack: FakeSlack) -> None:
    client = WebClient(token="xoxb-test", base_url=slack.url)

    client.files_upload_v2(channel="C1", thread_ts="1.000100", content="résumé", filename="a.tf", title="a.tf")

    (shared,) = slack.shared_files()
    assert (shared.filename, shared.title, shared.channel, shared.thread_ts) == ("a.tf", "a.tf", "C1", "1.000100")
    assert shared.content == "résumé".encode()


@pytest.mark.parametrize(
    ("params", "error"),
    [
        ({"length": 3}, "invalid_arguments"),
        ({"filename": "a.tf", "length": 0}, "missing_argument"),
        ({"filename": "a.tf", "length": "many"}, "invalid_arguments"),
        ({"filename": "a.png", "length": 3, "alt_txt": "x" * 1001}, "alt_txt_too_large"),
    ],
)
def test_get_upload_url_refuses_what_slack_refuses(slack: FakeSlack, params: dict, error: str) -> None:
    client = WebClient(token="xoxb-test", base_url=slack.url)
    with pytest.raises(SlackApiError) as refused:
        client.api_call("files.getUploadURLExternal", params=params)
    assert refused.value.response["error"] == error


def test_an_upload_of_another_size_than_announced_fails(slack: FakeSlack) -> None:
    client = WebClient(token="xoxb-test", base_url=slack.url)
    ticket = client.files_getUploadURLExternal(filename="a.tf", length=10)
    answer = upload(ticket["upload_url"], b"short")

    assert answer == 400
    with pytest.raises(SlackApiError) as refused:
        client.files_completeUploadExternal(files=[{"id": ticket["file_id"]}], channel_id="C1")
    assert refused.value.response["error"] == "file_not_found"


def test_complete_upload_refuses_what_slack_refuses(slack: FakeSlack) -> None:
    client = WebClient(token="xoxb-test", base_url=slack.url)
    ticket = client.files_getUploadURLExternal(filename="a.tf", length=2)
    upload(ticket["upload_url"], b"ok")
    file = [{"id": ticket["file_id"]}]

    for params, error in (
        ({"files": "not json"}, "invalid_arguments"),
        ({"files": "[]"}, "invalid_arguments"),
        ({"files": json.dumps(file), "thread_ts": "1.000100"}, "invalid_arguments"),  # a thread needs its channel
        ({"files": json.dumps(file), "channel_id": "nonsense"}, "channel_not_found"),
        ({"files": json.dumps([{"id": "F404"}]), "channel_id": "C1"}, "file_not_found"),
    ):
        with pytest.raises(SlackApiError) as refused:
            client.api_call("files.completeUploadExternal", params=params)
        assert refused.value.response["error"] == error, params
    client.files_completeUploadExternal(files=file, channel_id="C1")
    with pytest.raises(SlackApiError) as again:  # "This method can only be called once."
        client.files_completeUploadExternal(files=file, channel_id="C1")
    assert again.value.response["error"] == "file_not_found"


def test_a_refused_upload_stops_files_upload_v2(slack: FakeSlack) -> None:
    client = WebClient(token="xoxb-test", base_url=slack.url)
    slack.fail_next("files.getUploadURLExternal", error="file_uploads_disabled")
    with pytest.raises(SlackApiError):
        client.files_upload_v2(channel="C1", content="x", filename="a.tf")
    assert slack.shared_files() == []
    with pytest.raises(SlackRequestError):
        client.files_upload_v2(channel="C1", filename="a.tf")  # neither content nor file


# --- the thread gets the role as code ---------------------------------------------------------------


def test_the_thread_gets_both_files_of_exactly_the_created_role(stack: BotStack) -> None:
    request_id = create(stack, "coded-web")
    store = stack.runtime.store
    role = role_as_code(store, store.get(request_id))

    shared = stack.slack.shared_files()
    assert {(f.filename, f.content.decode()) for f in shared} == {
        (file_name(role, fmt), export_role(role, fmt)) for fmt in ("cloudformation", "terraform")
    }
    assert {(f.channel, f.thread_ts) for f in shared} == {
        (store.get(request_id).channel, store.get(request_id).message_ts)
    }
    assert role.provenance_tags == {
        "iam-role-bot:request-id": f"{request_id}:{store.get(request_id).provenance_nonce}",
        "iam-role-bot:requester": REQUESTER,
        "iam-role-bot:approvers": APPROVER,
    }
    assert "iam-role-bot requests export" in stack.slack.last("files.completeUploadExternal").params["initial_comment"]


def test_a_role_created_before_results_kept_its_tags_gets_them_from_its_approval(stack: BotStack) -> None:
    request_id = create(stack, "older-role")
    record = stack.runtime.store.get(request_id)
    assert record is not None
    kept = role_as_code(stack.runtime.store, record).provenance_tags
    older = dataclasses.replace(
        record, result={key: value for key, value in record.result.items() if key != "provenance_tags"}
    )

    assert role_as_code(stack.runtime.store, older).provenance_tags == kept


def test_a_failed_upload_is_told_in_the_thread_and_the_role_stays(stack: BotStack, aws) -> None:
    stack.slack.fail_next("files.completeUploadExternal", error="not_in_channel")
    request_id = create(stack, "upload-fails")

    assert stack.slack.shared_files() == []
    assert any("did not take the role's code" in said(c) for c in thread_replies(stack, request_id))
    assert aws.client("iam").get_role(RoleName="upload-fails")["Role"]["RoleName"] == "upload-fails"


# --- git ----------------------------------------------------------------------------------------------


@pytest.fixture
def git_stack(make_stack: Callable[..., BotStack], tmp_path: Path) -> BotStack:
    repository = bare_repository(tmp_path / "roles.git")
    export = GitExport(repository=str(repository), branch="iam", path_template="roles/{account_id}/{role_name}.tf")
    return make_stack(policy=Policy(export=export))


def test_each_created_role_is_one_commit_naming_request_requester_and_approvers(git_stack: BotStack) -> None:
    repository = Path(git_stack.config.policy.export.repository)
    first = create(git_stack, "git-one")
    second = create(git_stack, "git-two")
    store = git_stack.runtime.store

    log = git(repository, "log", "--format=%B%x00", "iam").split("\x00")
    assert len([entry for entry in log if entry.strip()]) == 2
    for request_id, name in ((first, "git-one"), (second, "git-two")):
        role = role_as_code(store, store.get(request_id))
        path = f"roles/{role.account_id}/{name}.tf"
        assert git(repository, "show", f"iam:{path}") == export_role(role, "terraform")
        message = git(repository, "log", "-1", "--format=%B", "iam", "--", path)
        assert f"Request: {request_id}" in message
        assert f"Requester: {REQUESTER}" in message
        assert f"Approvers: {APPROVER}" in message
        assert [e.details["path"] for e in store.events(request_id) if e.kind == EventKind.GIT_EXPORTED] == [path]


def test_a_failed_push_is_told_once_retried_on_housekeeping_and_never_undoes_the_role(
    make_stack: Callable[..., BotStack], tmp_path: Path, aws
) -> None:
    missing = tmp_path / "not-yet.git"
    stack = make_stack(policy=Policy(export=GitExport(repository=str(missing))))
    request_id = create(stack, "git-later")
    stack.runtime.bot.housekeeping()  # still no repository: fails again, said only once

    failures = [c for c in thread_replies(stack, request_id) if "could not be committed" in said(c)]
    assert len(failures) == 1
    assert [e.kind for e in stack.runtime.store.events(request_id)].count(EventKind.GIT_EXPORT_FAILED) == 2
    assert aws.client("iam").get_role(RoleName="git-later")["Role"]["RoleName"] == "git-later"

    bare_repository(missing)
    stack.runtime.bot.housekeeping()
    stack.runtime.bot.housekeeping()  # nothing left to do

    assert git(missing, "log", "--format=%s", "main").count("git-later") == 1
    assert any("now in the export repository" in said(c) for c in thread_replies(stack, request_id))
    assert stack.runtime.store.get(request_id).status == "created"


def test_an_unchanged_role_makes_no_second_commit(tmp_path: Path) -> None:
    repository = GitRepository(GitExport(repository=str(bare_repository(tmp_path / "r.git"))))
    first = repository.commit("roles/a.tf", "one\n", "first")
    again = repository.commit("roles/a.tf", "one\n", "again")
    changed = repository.commit("roles/a.tf", "two\n", "changed")

    assert first.commit and again.commit is None and changed.commit
    assert git(tmp_path / "r.git", "log", "--format=%s", "main").split() == ["changed", "first"]


def test_a_push_overtaken_by_another_commit_is_made_again_on_top_of_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another writer pushes between the bot's commit and its push (a post-commit hook does it, once): git
    refuses the bot's push ("fetch first"), and the bot commits again from a fresh clone of the new branch."""
    remote = bare_repository(tmp_path / "r.git")
    hooks = tmp_path / "hooks"
    hooks.mkdir()
    (hooks / "post-commit").write_text(
        f"""#!/bin/sh
[ -e {tmp_path}/overtaken ] && exit 0
touch {tmp_path}/overtaken
unset $(git rev-parse --local-env-vars)
git clone -q --branch main {remote} {tmp_path}/other && cd {tmp_path}/other &&
git -c user.name=o -c user.email=o@o commit -q --allow-empty -m other && git push -q origin HEAD:refs/heads/main
"""
    )
    (hooks / "post-commit").chmod(0o755)
    (tmp_path / "gitconfig").write_text(f"[core]\n\thooksPath = {hooks}\n")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(tmp_path / "gitconfig"))
    repository = GitRepository(GitExport(repository=str(remote)))
    (tmp_path / "overtaken").touch()  # the hook stands aside for the first commit
    repository.commit("README", "roles\n", "start")
    (tmp_path / "overtaken").unlink()

    done = repository.commit("roles/a.tf", "x\n", "the role")

    assert git(remote, "log", "--format=%s", "main").splitlines() == ["the role", "other", "start"]
    assert done.commit == git(remote, "rev-parse", "main").strip()


def test_a_role_name_cannot_walk_out_of_the_repository(tmp_path: Path) -> None:
    """IAM allows a role named ".." ([\\w+=,.@-]+): the path it makes is refused, not written."""
    repository = GitRepository(GitExport(repository=str(tmp_path / "r.git"), path_template="{role_name}/main.tf"))
    with pytest.raises(GitExportError, match="would leave the repository"):
        repository.path_for(account_id="123456789012", role_name="..", request_id="R-1")


def test_a_hung_remote_times_out(tmp_path: Path) -> None:
    """A server that takes the connection and never answers: git is stopped, the bot is not held."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        url = f"http://127.0.0.1:{listener.getsockname()[1]}/roles.git"
        repository = GitRepository(GitExport(repository=url, timeout_seconds=0.2))
        with pytest.raises(GitExportError, match=r"did not finish within 0\.2 s"):
            repository.commit("a.tf", "x", "m")


def test_credentials_in_the_repository_url_are_masked() -> None:
    assert masked("fatal: unable to access 'https://bot:s3cret@git.example.com/r.git/'") == (
        "fatal: unable to access 'https://***@git.example.com/r.git/'"
    )


@pytest.mark.parametrize(
    "template",
    [
        "/etc/{role_name}",
        "../{role_name}.tf",
        "roles/{account}.tf",
        "roles/x.tf",
        ".git/{role_name}",
        "roles/{role_name}.json",
    ],
)
def test_the_path_template_is_checked_at_start_up(template: str) -> None:
    with pytest.raises(ValueError):
        GitExport(repository="r", path_template=template)


# --- CLI ------------------------------------------------------------------------------------------------


def test_the_cli_prints_what_the_thread_got(
    stack: BotStack, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    request_id = create(stack, "cli-export")
    monkeypatch.setenv("DATABASE_PATH", stack.settings.database_path)
    shared = {f.filename: f.content.decode() for f in stack.slack.shared_files()}
    role = role_as_code(stack.runtime.store, stack.runtime.store.get(request_id))
    capsys.readouterr()  # what the moto server printed meanwhile

    for fmt in ("cloudformation", "terraform"):
        assert main(["requests", "export", request_id.lower(), "--format", fmt]) == 0
        assert capsys.readouterr().out == shared[file_name(role, fmt)]


def test_the_cli_refuses_a_request_without_a_role(
    stack: BotStack, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    request_id = request_role(stack, "user", {"role_name": "pending-role"})
    monkeypatch.setenv("DATABASE_PATH", stack.settings.database_path)
    capsys.readouterr()

    assert main(["requests", "export", request_id, "--format", "terraform"]) == 1
    assert "only a created or edited role" in capsys.readouterr().err
    assert main(["requests", "export", "R-NOPE", "--format", "terraform"]) == 1
