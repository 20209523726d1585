"""The trust corpus through the submission path of the form: every case must reach its expected outcome.

One bot (real runtime, moto over HTTP, a real SQLite file) validates every request the way a
submitted modal is validated: parsing, guardrails, review. ``high`` also means the workflow will
want two distinct approvers (the default ``high_risk = "require_approvals"``).
"""

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import boto3
import pytest

from bot.config import Account, Policy
from bot.domain import RequestInvalid
from bot.review import Finding, Severity, is_high_risk
from bot.sandbox.stack import BotStack
from tests.corpus.trust import ACCOUNT, BENIGN, OURS, RISKY, Case, trust
from tests.e2e import APPROVER, REQUESTER, SECOND_APPROVER, open_modal, submit


@pytest.fixture(scope="module")
def corpus_bot(moto_endpoint: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[BotStack]:
    """A bot configured with two accounts of the organisation (the moto account and ``OURS``)."""
    with pytest.MonkeyPatch.context() as environment:
        environment.setenv("AWS_ENDPOINT_URL", moto_endpoint)
        environment.setenv("AWS_ACCESS_KEY_ID", "testing")
        environment.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        environment.delenv("AWS_PROFILE", raising=False)
        session = boto3.Session(region_name="us-east-1")
        assert session.client("sts").get_caller_identity()["Account"] == ACCOUNT
        accounts = [Account(id=ACCOUNT, name="prod"), Account(id=OURS, name="shared")]
        stack = BotStack(
            Path(tmp_path_factory.mktemp("corpus")),
            approvers=[APPROVER, SECOND_APPROVER],
            policy=Policy(accounts=accounts),
            aws_session=session,
            sandbox=True,
        )
        for thread in stack.runtime.warming:
            thread.join(timeout=30)
        # Managed policies are read while AWS_ENDPOINT_URL still points at moto (each test's
        # environment drops it), as a running bot has them cached.
        arns = {arn for case in RISKY + BENIGN for arn in case.fields.get("managed_policy_arns", [])}
        stack.runtime.catalog.managed_policies(ACCOUNT, arns, wait_seconds=None)
        yield stack
        stack.close()


def outcome(findings: list[Finding]) -> str:
    if is_high_risk(findings):
        return "high"
    return "warning" if any(finding.severity == Severity.WARNING for finding in findings) else "clean"


def judged(bot: BotStack, case: Case) -> tuple[str, list[str]]:
    try:
        _, findings = bot.runtime.bot.intake.validate(case.fields)
    except RequestInvalid as refused:
        return "refused", list(refused.errors.values())
    return outcome(findings), [f"{finding.severity}: {finding.title}" for finding in findings]


def test_the_corpus_is_big_enough() -> None:
    assert len(RISKY) >= 40 and len(BENIGN) >= 20
    assert len({case.name for case in RISKY + BENIGN}) == len(RISKY) + len(BENIGN)


@pytest.mark.parametrize("case", RISKY, ids=[case.name for case in RISKY])
def test_risky_trust(corpus_bot: BotStack, case: Case) -> None:
    result, said = judged(corpus_bot, case)
    assert result == case.expected, said


@pytest.mark.parametrize("case", BENIGN, ids=[case.name for case in BENIGN])
def test_benign_trust(corpus_bot: BotStack, case: Case) -> None:
    result, said = judged(corpus_bot, case)
    assert result == case.expected, said


def test_a_refused_trust_is_a_field_error_in_the_modal(make_stack: Callable[..., BotStack]) -> None:
    """Signed HTTP through Bolt: the refusal comes back next to the trust policy, and nothing is recorded."""
    stack = make_stack()
    view = open_modal(stack, REQUESTER, "custom")
    document = {"Version": "2012-10-17", "Statement": [trust({"AWS": "arn:aws:iam::*:root"})]}
    answers = {
        "account_id": stack.runtime.bot.choices.account_ids()[0],
        "role_name": "everyone",
        "trust_policy_document": json.dumps(document),
        "justification": "Partners.",
    }
    answer = submit(stack, REQUESTER, view, answers)
    assert answer is not None and answer["response_action"] == "errors"
    assert "wildcard" in answer["errors"]["trust_policy_document"]
    assert stack.runtime.store.count() == 0
