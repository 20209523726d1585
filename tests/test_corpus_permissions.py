"""The permissions corpus (tests/corpus/permissions.json) through the bot's own submission path.

Each case is what the form would send; ``Intake.validate`` (what ``RoleBot.submit`` runs) parses it,
applies the guardrails, reads the managed policies' default versions from IAM (moto with AWS's
managed policies loaded, plus the corpus's customer managed policies) and reviews it. The outcome
must be exactly the expected one: ``refused`` (a field error), ``high``, ``warning`` or ``clean``
(nothing above info).
"""

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from bot.catalog import PolicyCatalog
from bot.config import Account, Policy
from bot.domain import RequestInvalid
from bot.review import Finding, Severity
from bot.sandbox.aws import SAML_METADATA
from bot.sandbox.stack import BotStack
from bot.service import RoleBot

CORPUS = json.loads((Path(__file__).parent / "corpus" / "permissions.json").read_text())
HOME = "123456789012"
ORG_ACCOUNT = "210987654321"
DEFAULTS = {"account_id": HOME, "justification": "Corpus case.", "role_name": "corpus-role"}


def filled(value: Any) -> Any:
    """The case with its account placeholders replaced."""
    text = json.dumps(value).replace("{account}", HOME).replace("{org_account}", ORG_ACCOUNT)
    return json.loads(text)


@pytest.fixture(scope="module")
def bot(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RoleBot]:
    """One bot for the module: moto loads AWS's ~1,500 managed policies once (about 2 s)."""
    with pytest.MonkeyPatch.context() as env:
        env.setenv("AWS_ACCESS_KEY_ID", "testing")
        env.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        env.delenv("AWS_ENDPOINT_URL", raising=False)
        with mock_aws(config={"iam": {"load_aws_managed_policies": True}}):
            session = boto3.Session(region_name="us-east-1")
            iam = session.client("iam")
            iam.create_saml_provider(Name="Okta", SAMLMetadataDocument=SAML_METADATA)
            for name, document in filled(CORPUS["customer_policies"]).items():
                iam.create_policy(PolicyName=name, PolicyDocument=json.dumps(document))
            accounts = [Account(id=HOME, name="home"), Account(id=ORG_ACCOUNT, name="orders")]
            stack = BotStack(
                tmp_path_factory.mktemp("corpus"),
                approvers=["U0APPROVER"],
                policy=Policy(accounts=accounts),
                aws_session=session,
                sandbox=False,
            )
            warm_documents(stack.runtime.catalog)
            try:
                yield stack.runtime.bot
            finally:
                stack.close()


def warm_documents(catalog: PolicyCatalog) -> None:
    """Read every policy the corpus names that exists, as a running bot has them cached: the cases
    test the review, not the 1 s budget for reads (tests/test_catalog.py does; a loaded machine would
    turn a slow read into "not reviewed")."""
    arns = {
        arn
        for kind in ("risky", "benign")
        for case in filled(CORPUS[kind])
        if case["expect"] != "refused"
        for arn in case["request"].get("managed_policy_arns", [])
    }
    catalog.managed_policies(HOME, arns, wait_seconds=None)


def outcome(bot: RoleBot, request: dict[str, Any]) -> tuple[str, list[Finding] | dict[str, str]]:
    try:
        _, findings = bot.intake.validate({**DEFAULTS, **filled(request)})
    except RequestInvalid as invalid:
        return "refused", invalid.errors
    severities = {finding.severity for finding in findings}
    if Severity.HIGH in severities:
        return "high", findings
    return ("warning" if Severity.WARNING in severities else "clean"), findings


def cases(kind: str) -> list[Any]:
    return [pytest.param(case, id=case["id"]) for case in CORPUS[kind]]


def test_the_corpus_is_as_large_as_promised() -> None:
    assert len([c for c in CORPUS["risky"] if c["expect"] in ("high", "refused")]) >= 25
    assert len([c for c in CORPUS["benign"] if c["expect"] == "clean"]) >= 15
    ids = [case["id"] for kind in ("risky", "benign") for case in CORPUS[kind]]
    assert len(ids) == len(set(ids))


@pytest.mark.parametrize("case", cases("risky"))
def test_risky_permissions_are_held_or_refused(bot: RoleBot, case: dict[str, Any]) -> None:
    got, details = outcome(bot, case["request"])
    assert got == case["expect"], f"{case['why']}: {details}"


@pytest.mark.parametrize("case", cases("benign"))
def test_everyday_permissions_stay_clean(bot: RoleBot, case: dict[str, Any]) -> None:
    got, details = outcome(bot, case["request"])
    assert got == case["expect"], f"{case['why']}: {details}"


def test_a_customer_policy_is_reviewed_from_the_default_version_it_has_now(bot: RoleBot) -> None:
    iam = boto3.client("iam", region_name="us-east-1")
    arn = f"arn:aws:iam::{HOME}:policy/corpus-reports-reader"
    request, findings = bot.intake.validate({**DEFAULTS, "role_type": "user", "managed_policy_arns": [arn]})
    policy = iam.get_policy(PolicyArn=arn)["Policy"]
    assert request.managed_policy_pins == {arn: f"{policy['PolicyId']}:{policy['DefaultVersionId']}"}
    assert findings == [] or max(f.severity for f in findings) is Severity.INFO


def test_pins_come_from_iam_never_from_the_form(bot: RoleBot) -> None:
    arn = f"arn:aws:iam::{HOME}:policy/corpus-reports-reader"
    forged = {**DEFAULTS, "role_type": "user", "managed_policy_arns": [arn], "managed_policy_pins": {arn: "X:v9"}}
    request, _ = bot.intake.validate(forged)
    assert request.managed_policy_pins[arn] != "X:v9"
    assert request.managed_policy_pins[arn].endswith(":v1")
