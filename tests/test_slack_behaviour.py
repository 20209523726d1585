"""The bot behaves as real Slack needs, against the strict fake Slack (issue 14): tokens checked at
start, refusals in the clicked thread, quick form switches, bounded option loads, one request per
submitted form, failures to post told and not retried forever, one queue per channel."""

import json
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import boto3
import pytest
from slack_bolt.error import BoltError

from blocks import ids
from bot import catalog, choices
from bot.app import answer_failure
from bot.config import Account, Approvals, Policy
from bot.sandbox.fake_slack import manifest_scopes
from bot.sandbox.stack import ANNOUNCE_CHANNEL, APPROVAL_CHANNEL, COMMAND_CHANNEL, BotStack, sandbox_slack
from tests.e2e import APPROVER, OUTSIDER, REQUESTER, dms, ephemerals, open_home, open_modal, request_role, said, submit


def test_a_bad_token_stops_the_bot_at_start(tmp_path: Path, aws: boto3.Session) -> None:
    slack = sandbox_slack(token="xoxb-the-real-one")
    with pytest.raises(BoltError, match="invalid_auth"):
        BotStack(tmp_path, approvers=[APPROVER], aws_session=aws, slack=slack, warm_catalog=False)
    slack.stop()


def test_a_failure_after_the_ack_answers_nothing(caplog: pytest.LogCaptureFixture) -> None:
    body = {"type": "block_actions", "view": {"blocks": [{"type": "input", "block_id": "role_name"}]}}
    logger = logging.getLogger("test")
    with caplog.at_level(logging.ERROR):
        assert answer_failure(RuntimeError("late"), body, logger, None) is None
    assert "a block_actions listener failed: RuntimeError" in caplog.text


def test_a_refusal_for_a_button_in_a_thread_goes_to_that_thread(stack: BotStack) -> None:
    request_id = request_role(stack, "service", {"role_name": "etl", "service_principal": "glue.amazonaws.com"})
    record = stack.runtime.store.get(request_id)
    assert record is not None and record.message_ts
    reply = stack.driver.click(
        OUTSIDER,
        ids.APPROVE,
        request_id,
        message={"ts": "1764350000.999900", "thread_ts": record.message_ts, "type": "message"},
        channel=record.channel,
    )
    assert reply.status == 200
    stack.settle()
    (refusal,) = ephemerals(stack, OUTSIDER)
    assert refusal.params["thread_ts"] == record.message_ts


def test_two_quick_role_type_changes_show_the_latest_type(stack: BotStack) -> None:
    stack.expected_refusals = ("hash_conflict",)  # type: ignore[attr-defined]
    view = open_modal(stack, REQUESTER, "")
    # Both clicks carry the hash the form had before either redraw, as in Slack when they come quickly.
    stack.driver.click(REQUESTER, ids.ROLE_TYPE, view=view, selected_option="service")
    stack.settle()
    stack.driver.click(REQUESTER, ids.ROLE_TYPE, view=view, selected_option="oidc")
    stack.settle()
    drawn = [c for c in stack.slack.calls("views.update") if c.response.get("ok")]
    final = drawn[-1].params["view"]
    shown = {block.get("block_id") for block in final["blocks"]}
    assert "oidc_provider_arn" in shown or ids.OIDC_PROVIDER in shown, shown
    assert "service_principal" not in shown


HOME = "123456789012"
"""moto's account, the bot's home account."""
OTHER = "210987654321"
GLUE_TRUST = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": {"Service": "glue.amazonaws.com"}, "Action": "sts:AssumeRole"}],
}


def two_accounts(name: str = "Production") -> Policy:
    return Policy(accounts=[Account(id=HOME, name=name), Account(id=OTHER, name="Sandbox")])


def warmed(stack: BotStack) -> None:
    """Wait for the catalogue fetches started with the bot."""
    for thread in stack.runtime.warming:
        thread.join(timeout=30)


def option_values(stack: BotStack, action_id: str, typed: str, view: dict[str, Any], **answers: Any) -> list[str]:
    reply = stack.driver.options(REQUESTER, action_id, typed, view=view, answers=answers)
    assert reply.status == 200, reply.body
    return [option["value"] for option in reply.json()["options"]]


def test_a_long_account_name_keeps_the_account_id_in_its_option(make_stack: Callable[..., BotStack]) -> None:
    stack = make_stack(policy=two_accounts("Payments platform production workload account of the EMEA region"))
    view = open_modal(stack, REQUESTER, "user")
    account = next(block for block in view["blocks"] if block.get("block_id") == ids.ACCOUNT)
    labels = [option["text"]["text"] for option in account["element"]["options"]]
    assert labels[0].endswith(f"… ({HOME})") and len(labels[0]) <= 75, labels
    assert labels[1] == f"Sandbox ({OTHER})"


def test_the_policy_select_searches_the_chosen_account_and_stops_at_the_quota(
    make_stack: Callable[..., BotStack],
) -> None:
    stack = make_stack(policy=two_accounts(), warm_catalog=True)
    warmed(stack)
    view = open_modal(stack, REQUESTER, "user")
    select = next(block for block in view["blocks"] if block.get("block_id") == ids.MANAGED_POLICIES)["element"]
    assert select["max_selected_items"] == stack.config.limits.managed_policies_per_role
    assert option_values(stack, ids.MANAGED_POLICIES, "ReadOnly", view) == []  # no account chosen yet
    found = option_values(stack, ids.MANAGED_POLICIES, "ReadOnly", view, account_id=HOME)
    assert "arn:aws:iam::aws:policy/ReadOnlyAccess" in found


def test_right_after_start_a_policy_search_answers_within_the_budget(
    make_stack: Callable[..., BotStack], aws: boto3.Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first search waits out the options budget while AWS's list of policies is held, and answers "still
    loading"; once the list arrives, searches find policies. The budget is 0.2 s here (production's 1.5 s,
    within Slack's 3 s, would only make the test wait longer for the same answer)."""
    monkeypatch.setattr(choices, "OPTIONS_BUDGET", 0.2)
    listed = threading.Event()

    def slow_aws(**_: Any) -> None:
        listed.wait(timeout=30)

    aws.events.register("before-call.iam.ListPolicies", slow_aws)
    stack = make_stack(warm_catalog=True)
    view = open_modal(stack, REQUESTER, "user")
    try:
        assert option_values(stack, ids.MANAGED_POLICIES, "ReadOnly", view, account_id=HOME) == ["still-loading"]
    finally:
        listed.set()
    deadline = time.monotonic() + 30
    while (found := option_values(stack, ids.MANAGED_POLICIES, "ReadOnly", view, account_id=HOME)) == ["still-loading"]:
        assert time.monotonic() < deadline, "the catalogue never finished loading"
    assert "arn:aws:iam::aws:policy/ReadOnlyAccess" in found


def test_an_identity_provider_added_while_the_bot_runs_can_be_chosen(
    stack: BotStack, aws: boto3.Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(catalog, "RECHECK_AFTER", 0.1)
    warmed(stack)
    view = open_modal(stack, REQUESTER, "oidc")
    assert option_values(stack, ids.OIDC_PROVIDER, "gitlab", view, account_id=HOME) == []
    time.sleep(catalog.RECHECK_AFTER)
    aws.client("iam").create_open_id_connect_provider(
        Url="https://gitlab.example.com", ClientIDList=["sts.amazonaws.com"], ThumbprintList=["b" * 40]
    )
    found = option_values(stack, ids.OIDC_PROVIDER, "gitlab", view, account_id=HOME)
    assert found == [f"arn:aws:iam::{HOME}:oidc-provider/gitlab.example.com"]


ETL_ROLE = {
    "account_id": HOME,
    "role_name": "etl",
    "service_principal": "glue.amazonaws.com",
    "justification": "Nightly ETL.",
}


def test_the_same_form_submission_sent_three_times_makes_one_request(stack: BotStack) -> None:
    view = open_modal(stack, REQUESTER, "service")
    with ThreadPoolExecutor(max_workers=3) as pool:
        replies = list(pool.map(lambda _: stack.driver.submit(REQUESTER, view, ETL_ROLE), range(3)))
    stack.settle()
    assert [reply.status for reply in replies] == [200, 200, 200]
    # Every copy answers with the form's next view: "checking", or the request it already made.
    assert {reply.json()["response_action"] for reply in replies} == {"update"}
    assert [record.role_name for record in stack.runtime.store.for_requester(REQUESTER)] == ["etl"]
    posted = [
        c for c in stack.slack.calls("chat.postMessage") if c.params["channel"] == stack.settings.approval_channel_id
    ]
    assert len(posted) == 1
    shown = [c for c in stack.slack.calls("views.update") if c.params["view_id"] == view["id"]]
    assert len(shown) <= 1 and all("R-1001" in json.dumps(c.params["view"]) for c in shown)


def test_a_submission_is_acknowledged_before_any_aws_call_is_answered(
    make_stack: Callable[..., BotStack], aws: boto3.Session
) -> None:
    """Structural, not timed: every AWS call is held until the test lets it go, and the ack comes back meanwhile,
    so the ack never waits for AWS (the role name, the managed policy not cached, Access Analyzer)."""
    stack = make_stack(sandbox=False)  # with Access Analyzer, as in production (moto lacks it: it steps aside)
    released, held = threading.Event(), []

    def hold(event_name: str, **_: Any) -> None:
        held.append(event_name.removeprefix("before-call."))
        assert released.wait(30), "the test never let AWS answer"

    aws.events.register("before-call", hold)
    view = open_modal(stack, REQUESTER, "service")
    answers = ETL_ROLE | {"managed_policy_arns": ["arn:aws:iam::aws:policy/ReadOnlyAccess"]}
    try:
        reply = stack.driver.submit(REQUESTER, view, answers)
        assert reply.status == 200 and reply.json()["view"]["callback_id"] == ids.CHECKING_CALLBACK_ID, reply.body
        assert stack.runtime.store.count() == 0  # nothing recorded before AWS answered
    finally:
        released.set()
    stack.settle()
    assert {"iam.GetRole", "iam.GetPolicy", "accessanalyzer.ValidatePolicy"} <= set(held), held
    (record,) = stack.runtime.store.for_requester(REQUESTER)
    shown = stack.slack.wait_for("views.update", lambda c: c.params["view_id"] == view["id"])
    assert f"Sent for approval: {record.id}" in json.dumps(shown.params["view"])


def test_a_role_name_taken_is_shown_under_the_name_with_the_typed_answers_kept(
    stack: BotStack, aws: boto3.Session
) -> None:
    aws.client("iam").create_role(RoleName="etl", AssumeRolePolicyDocument=json.dumps(GLUE_TRUST))
    view = open_modal(stack, REQUESTER, "service")
    reply = stack.driver.submit(REQUESTER, view, ETL_ROLE)
    assert reply.json()["view"]["callback_id"] == ids.CHECKING_CALLBACK_ID
    stack.settle()
    shown = stack.slack.wait_for("views.update", lambda c: c.params["view_id"] == view["id"]).params["view"]
    assert shown["callback_id"] == ids.REQUEST_CALLBACK_ID  # the form again, to fix and submit
    blocks = [block.get("block_id") for block in shown["blocks"]]
    error = shown["blocks"][blocks.index(f"{ids.FIELD_ERROR_PREFIX}role_name")]
    assert blocks.index(f"{ids.FIELD_ERROR_PREFIX}role_name") == blocks.index("role_name") + 1
    assert "already has a role named etl" in error["elements"][0]["text"]
    by_id = {block.get("block_id"): block for block in shown["blocks"]}
    assert by_id["role_name"]["element"]["initial_value"] == "etl"
    assert by_id["justification"]["element"]["initial_value"] == "Nightly ETL."
    assert by_id[ids.SERVICE]["element"]["initial_option"]["value"] == "glue.amazonaws.com"
    assert stack.runtime.store.count() == 0
    # Fixed and submitted again (Slack gives the redrawn form a new hash): the request is made.
    again = shown | {"id": view["id"], "hash": stack.slack.view_hash(view["id"])}
    errors = submit(stack, REQUESTER, again, {"role_name": "etl-nightly"})
    assert errors is None, errors
    assert [record.role_name for record in stack.runtime.store.for_requester(REQUESTER)] == ["etl-nightly"]


def test_a_form_with_nothing_to_ask_aws_is_answered_with_its_outcome(stack: BotStack) -> None:
    """A service-linked role has no name to check and no policy to analyse: the ack itself says it was sent (a
    ``views.update`` right after the ack could reach Slack before the ack's own update)."""
    view = open_modal(stack, REQUESTER, "service-linked")
    answers = {"account_id": HOME, "aws_service_name": "autoscaling.amazonaws.com", "justification": "Scaling."}
    reply = stack.driver.submit(REQUESTER, view, answers)
    stack.settle()
    assert reply.json()["view"]["callback_id"] == ids.FORM_DONE_CALLBACK_ID
    assert "Sent for approval: R-1001" in reply.body
    assert [c for c in stack.slack.calls("views.update") if c.params["view_id"] == view["id"]] == []


def test_user_group_lookups_never_hold_up_an_answer(make_stack: Callable[..., BotStack]) -> None:
    """Structural: the group's members are held in Slack until the test lets them go, and the answers to a
    submission and ``/iam-role status`` come back meanwhile (they read only the cache)."""
    slack = sandbox_slack(scopes=manifest_scopes() | {"usergroups:read"})
    slack.set_usergroup("S0APPROVERS", [APPROVER])
    released = slack.hold("usergroups.users.list")
    stack = make_stack(slack=slack, policy=Policy(approvals=Approvals(approver_usergroup="S0APPROVERS")))
    view = open_modal(stack, REQUESTER, "service")
    try:
        assert stack.driver.submit(REQUESTER, view, ETL_ROLE).status == 200
        stack.settle()
        assert stack.driver.command(REQUESTER, "status R-1001").status == 200
        assert not released.is_set()
    finally:
        released.set()
    assert [record.id for record in stack.runtime.store.for_requester(REQUESTER)] == ["R-1001"]


SERVICE_ROLE = {"role_name": "etl", "service_principal": "glue.amazonaws.com"}


def test_a_request_slack_will_never_post_is_told_recorded_and_not_retried(
    make_stack: Callable[..., BotStack], caplog: pytest.LogCaptureFixture
) -> None:
    stack = make_stack(slack=sandbox_slack(channels=(ANNOUNCE_CHANNEL, COMMAND_CHANNEL)))
    stack.expected_refusals = ("channel_not_found",)  # type: ignore[attr-defined]
    with caplog.at_level(logging.ERROR, logger="bot.service"):
        request_id = request_role(stack, "service", SERVICE_ROLE)
    (dm,) = dms(stack, REQUESTER)
    assert "could not be posted for approval" in said(dm) and "does not exist" in said(dm)
    assert "sent for approval" not in said(dm)
    assert f"{request_id} could not be posted for approval in {APPROVAL_CHANNEL} (channel_not_found)" in caplog.text
    events = [(e.kind, e.details) for e in stack.runtime.store.events(request_id)]
    assert ("not_posted", {"error": "channel_not_found", "final": True}) in events
    tries = len(stack.slack.calls("chat.postMessage"))
    for hours in (1, 2, 24):
        stack.runtime.bot.housekeeping(now=time.time() + hours * 3600)
    assert len(stack.slack.calls("chat.postMessage")) == tries


def test_a_transient_failure_to_post_is_tried_again_with_backoff_then_given_up(stack: BotStack) -> None:
    stack.slack.fail_next("chat.postMessage", status=503, times=3)  # the client's own retries: 1 + 2
    request_id = request_role(stack, "service", SERVICE_ROLE)
    record = stack.runtime.store.get(request_id)
    assert record is not None and not record.message_ts
    (dm,) = dms(stack, REQUESTER)
    assert "tries again" in said(dm)
    bot, start = stack.runtime.bot, time.time()
    stack.slack.fail_next("chat.postMessage", status=503, times=3)
    bot.housekeeping(now=start + 61)  # due: second attempt, fails
    bot.housekeeping(now=start + 62)  # backoff: not due yet
    assert [e.kind for e in stack.runtime.store.events(request_id)].count("not_posted") == 2
    bot.housekeeping(now=start + 400)  # due again: Slack answers now
    record = stack.runtime.store.get(request_id)
    assert record is not None and record.message_ts
    assert "sent for approval" in said(dms(stack, REQUESTER)[-1])


def test_a_burst_of_approvals_in_one_channel_waits_out_slacks_rate_limit(make_stack: Callable[..., BotStack]) -> None:
    """Three approvals at once post some 15 messages in the approvals channel; every one arrives, each thread
    in order, after the bot has waited out several 429s' ``Retry-After``.

    The fake refills ten times faster than Slack (10 a second, bursts of 5; Slack's about 1 is tested in
    test_fake_slack.py) so that this takes 3 s, not 13 s; its 429s still say ``Retry-After: 1``, in whole
    seconds as Slack's do, and the bot waits that long before the channel's next message."""
    stack = make_stack(slack=sandbox_slack(post_rate=10.0, post_burst=5))
    stack.expected_refusals = ("ratelimited",)  # type: ignore[attr-defined]
    request_ids = [
        request_role(stack, "service", {"role_name": f"etl-{n}", "service_principal": "glue.amazonaws.com"})
        for n in range(3)
    ]
    records = [stack.runtime.store.get(request_id) for request_id in request_ids]
    with ThreadPoolExecutor(max_workers=3) as pool:
        clicks = [
            pool.submit(
                stack.driver.click,
                APPROVER,
                ids.APPROVE,
                record.id,
                message={"ts": record.message_ts, "type": "message"},
                channel=record.channel,
            )
            for record in records
            if record is not None
        ]
        assert [click.result().status for click in clicks] == [200, 200, 200]
    stack.settle(timeout=120)
    for request_id in request_ids:
        record = stack.runtime.store.get(request_id)
        assert record is not None and record.status == "created", record
        replies = [
            said(call)
            for call in stack.slack.calls("chat.postMessage")
            if call.params.get("thread_ts") == record.message_ts and call.response.get("ok")
        ]
        assert len(replies) == 4, replies
        assert "approved" in replies[1].lower() and "created" in replies[-1].lower(), replies
    limited = [call.at for call in stack.slack.refused() if call.response.get("error") == "ratelimited"]
    assert len(limited) >= 2, "the burst never met Slack's rate limit"
    posted = [
        call.at
        for call in stack.slack.calls("chat.postMessage")
        if call.params.get("channel") == APPROVAL_CHANNEL and call.response.get("ok")
    ]
    for refused_at in limited:  # Retry-After: 1 waited out before the channel's next message
        assert min(at for at in posted if at > refused_at) >= refused_at + 1


def test_approvers_app_home_says_a_request_slack_will_never_post(make_stack: Callable[..., BotStack]) -> None:
    stack = make_stack(slack=sandbox_slack(channels=(ANNOUNCE_CHANNEL, COMMAND_CHANNEL)))
    stack.expected_refusals = ("channel_not_found",)  # type: ignore[attr-defined]
    request_role(stack, "service", SERVICE_ROLE)
    home = open_home(stack, APPROVER)
    assert home is not None
    shown = json.dumps(home["blocks"])
    assert "Slack refused to post it in the approvals channel (`channel_not_found`)" in shown
    actions = [e.get("action_id") for b in home["blocks"] for e in b.get("elements", []) if isinstance(e, dict)]
    assert ids.APPROVE not in actions  # nothing to approve from a request nobody could read in full
