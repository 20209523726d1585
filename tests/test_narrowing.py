"""An edit is labelled narrowing only when the bot's own comparison and IAM Access Analyzer's CheckNoNewAccess
(where it answers) agree; a FAIL makes it an ordinary change, and the label says which check decided.

CheckNoNewAccess's "available" paths run on a real boto3 client under botocore's ``Stubber``, which checks
every request against the service model (moto does not implement the operation); its absence runs on moto.
"""

import logging
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from moto import mock_aws

from blocks import ids
from bot.analyzer import NoNewAccess
from bot.config import Approvals, Policy
from bot.domain.policies import to_json
from bot.review.narrowing import compared_documents, narrowing
from bot.sandbox.stack import APPROVAL_CHANNEL, BotStack
from tests.builders import lambda_role as role
from tests.builders import policy
from tests.e2e import APPROVER, REQUESTER, SECOND_APPROVER, click, request_role, said

EVERYTHING = {"Effect": "Allow", "Action": "*", "Resource": "*"}
READ_S3 = {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}


class Asked:
    """CheckNoNewAccess as a test double of the service: answers ``result`` and records what it was asked."""

    def __init__(self, result: str | None, message: str = "") -> None:
        self.answer = None if result is None else {"result": result, "message": message, "reasons": []}
        self.asked: list[tuple[str, str, str]] = []

    def __call__(self, existing: str, new: str, policy_type: str) -> dict[str, Any] | None:
        self.asked.append((existing, new, policy_type))
        return self.answer


# --- the verdict (pure) ---------------------------------------------------------------------------------


def test_access_analyzer_is_not_asked_when_the_bot_finds_new_access() -> None:
    check = Asked("PASS")
    verdict = narrowing(
        role(inline_policy=to_json(policy(READ_S3))), role(inline_policy=to_json(policy(EVERYTHING))), check
    )
    assert verdict.narrowing is False and verdict.findings == [] and check.asked == []


def test_both_agreeing_is_narrowing_and_the_label_says_both_checked() -> None:
    check = Asked("PASS")
    before, after = (
        role(inline_policy=to_json(policy(READ_S3, EVERYTHING))),
        role(inline_policy=to_json(policy(READ_S3))),
    )
    verdict = narrowing(before, after, check)
    assert verdict.narrowing is True
    assert check.asked == [(to_json(before.inline_policy), to_json(after.inline_policy), "IDENTITY_POLICY")]
    assert "IAM Access Analyzer's CheckNoNewAccess on the inline policy (no new access) agree" in (
        verdict.findings[0].explanation
    )


def test_an_access_analyzer_fail_overrules_the_bots_comparison() -> None:
    check = Asked("FAIL", "The new policy grants access to s3:PutObject.")
    before, after = (
        role(inline_policy=to_json(policy(READ_S3, EVERYTHING))),
        role(inline_policy=to_json(policy(READ_S3))),
    )
    verdict = narrowing(before, after, check)
    assert verdict.narrowing is False
    [finding] = verdict.findings
    assert (finding.severity, finding.title, finding.concerns) == (
        "warning",
        "Access Analyzer found new access",
        "inline_policy",
    )
    assert "grants access to s3:PutObject" in finding.explanation


@pytest.mark.parametrize("unavailable", [Asked(None), lambda *_: (_ for _ in ()).throw(TimeoutError())])
def test_without_an_answer_the_bots_comparison_decides_and_says_so(unavailable: Any) -> None:
    before, after = (
        role(inline_policy=to_json(policy(READ_S3, EVERYTHING))),
        role(inline_policy=to_json(policy(READ_S3))),
    )
    verdict = narrowing(before, after, unavailable)
    assert verdict.narrowing is True
    explanation = verdict.findings[0].explanation
    assert explanation.startswith("Decided by the bot's own comparison alone")
    assert "could not check the inline policy" in explanation


def test_a_change_of_no_policy_document_needs_no_access_analyzer() -> None:
    check = Asked("FAIL")
    verdict = narrowing(role(max_session_duration=7200), role(max_session_duration=3600), check)
    assert verdict.narrowing is True and check.asked == []
    assert "IAM Access Analyzer had nothing to compare" in verdict.findings[0].explanation


def test_the_documents_compared_are_those_changed_on_both_sides_trust_as_a_resource_policy() -> None:
    inline = to_json(policy(READ_S3))
    assert compared_documents(role(), role(inline_policy=inline)) == []  # added: the bot's comparison decides
    assert compared_documents(role(inline_policy=inline), role()) == []  # removed: likewise
    [trust] = compared_documents(role(), role(service_principal="ec2.amazonaws.com"))
    assert (trust.policy_type, trust.label) == ("RESOURCE_POLICY", "trust policy")
    assert "lambda.amazonaws.com" in trust.existing and "ec2.amazonaws.com" in trust.new


# --- the adapter ----------------------------------------------------------------------------------------


def test_the_adapter_sends_a_request_the_service_model_accepts_and_returns_the_answer() -> None:
    check = NoNewAccess(boto3.Session(region_name="us-east-1"), region="us-east-1")
    answer = {"result": "FAIL", "message": "new access", "reasons": [{"description": "s3:*", "statementIndex": 0}]}
    with Stubber(check.analyzer()) as stub:
        sent = {"existingPolicyDocument": "{}", "newPolicyDocument": "{ }", "policyType": "RESOURCE_POLICY"}
        stub.add_response("check_no_new_access", answer, sent)
        assert check("{}", "{ }", "RESOURCE_POLICY") == answer
        stub.assert_no_pending_responses()
    with pytest.raises(ValueError, match="unknown policy type"):
        check("{}", "{}", "AWS::IAM::AssumeRolePolicyDocument")


def test_a_role_not_allowed_to_check_stops_asking(caplog: pytest.LogCaptureFixture) -> None:
    check = NoNewAccess(boto3.Session(region_name="us-east-1"), region="us-east-1")
    with Stubber(check.analyzer()) as stub:
        stub.add_client_error("check_no_new_access", "AccessDeniedException", http_status_code=403)
        assert check("{}", "{}", "IDENTITY_POLICY") is None
        assert check("{}", "{}", "IDENTITY_POLICY") is None  # not asked again: the Stubber has no answer left
    assert not check.available
    assert (
        sum("CheckNoNewAccess is not available" in r.message for r in caplog.records if r.levelno == logging.WARNING)
        == 1
    )


def test_on_moto_check_no_new_access_is_unavailable() -> None:
    with mock_aws():
        check = NoNewAccess(boto3.Session(region_name="us-east-1"), region="us-east-1")
        assert check("{}", "{}", "IDENTITY_POLICY") is None
    assert not check.available


# --- through Slack ------------------------------------------------------------------------------------


@pytest.fixture
def stack(make_stack: Any) -> BotStack:
    """Edits that only narrow need one approval; a high-risk change two."""
    return make_stack(policy=Policy(approvals=Approvals(narrowing_approvals=1)))


def made_admin_role(stack: BotStack) -> str:
    made = request_role(
        stack,
        "service",
        {
            "role_name": "narrowed",
            "service_principal": "lambda.amazonaws.com",
            "inline_policy": to_json(policy(READ_S3, EVERYTHING)),
        },
    )
    click(stack, APPROVER, "approve", made)
    click(stack, SECOND_APPROVER, "approve", made)
    assert stack.runtime.store.get(made).status == "created"
    return made


def edit_away_s3(stack: BotStack) -> tuple[dict[str, Any], str]:
    """Edit the role to keep only the admin statement (still high risk); the ack and the approval message."""
    since = stack.slack.calls("views.open")
    assert stack.driver.command(REQUESTER, "edit narrowed").status == 200
    view = stack.slack.wait_for("views.open", lambda c: c not in since).response["view"]
    reply = stack.driver.submit(
        REQUESTER, view, {"inline_policy": to_json(policy(EVERYTHING)), "justification": "no S3"}
    )
    stack.settle()
    posted = [c for c in stack.slack.calls("chat.postMessage") if c.params["channel"] == APPROVAL_CHANNEL]
    return reply.json(), said(posted[-1])


def checked_after_the_ack(ack: dict[str, Any]) -> bool:
    """The ack showed "Checking your request…": the checks that ask AWS ran after it."""
    return ack.get("response_action") == "update" and ack["view"]["callback_id"] == ids.CHECKING_CALLBACK_ID


def stubbed_check(stack: BotStack) -> Stubber:
    check = stack.runtime.bot.intake.check_no_new_access
    assert isinstance(check, NoNewAccess)
    return Stubber(check.analyzer())


def test_an_edit_access_analyzer_confirms_is_labelled_narrowing_and_needs_fewer_approvals(stack: BotStack) -> None:
    made_admin_role(stack)
    with stubbed_check(stack) as stub:
        sent = {
            "existingPolicyDocument": to_json(policy(READ_S3, EVERYTHING)),
            "newPolicyDocument": to_json(policy(EVERYTHING)),
            "policyType": "IDENTITY_POLICY",
        }
        stub.add_response("check_no_new_access", {"result": "PASS", "message": "no new access", "reasons": []}, sent)
        ack, message = edit_away_s3(stack)
        stub.assert_no_pending_responses()
    assert checked_after_the_ack(ack)
    edit = stack.runtime.store.for_requester(REQUESTER, limit=1)[0]
    assert (edit.kind, edit.required_approvals) == ("edit", 1)
    assert "Only narrows access" in message and "CheckNoNewAccess on the inline policy (no new access) agree" in message


def test_an_edit_access_analyzer_finds_new_access_in_is_an_ordinary_change(stack: BotStack) -> None:
    made_admin_role(stack)
    with stubbed_check(stack) as stub:
        answer = {"result": "FAIL", "message": "The updated policy grants new access.", "reasons": []}
        stub.add_response("check_no_new_access", answer)
        ack, message = edit_away_s3(stack)
    assert checked_after_the_ack(ack)
    edit = stack.runtime.store.for_requester(REQUESTER, limit=1)[0]
    assert edit.required_approvals == 2 and edit.subject["narrowing"] is False
    assert "Only narrows access" not in message
    assert "Access Analyzer found new access" in message and "The updated policy grants new access." in message


def test_where_access_analyzer_is_missing_the_bots_comparison_decides_and_the_message_says_so(stack: BotStack) -> None:
    made_admin_role(stack)
    ack, message = edit_away_s3(stack)  # moto: CheckNoNewAccess is not implemented
    assert checked_after_the_ack(ack)
    assert stack.runtime.store.for_requester(REQUESTER, limit=1)[0].required_approvals == 1
    assert "Decided by the bot's own comparison alone" in message and "could not check the inline policy" in message
