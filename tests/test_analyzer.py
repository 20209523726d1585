"""Access Analyzer adapter: the right ValidatePolicy call, and a clean switch-off where AWS lacks it."""

import json
from typing import Any

import boto3
import pytest
from botocore.awsrequest import AWSResponse
from moto import mock_aws

from bot.analyzer import AccessAnalyzer
from bot.review import IDENTITY_POLICY, TRUST_POLICY

DOCUMENT = '{"Version": "2012-10-17", "Statement": []}'


class RawBody:
    def __init__(self, body: bytes) -> None:
        self.body = body

    def stream(self, **_: Any) -> Any:
        yield self.body


def answering(session: boto3.Session, findings: list[dict[str, Any]], sent: list[dict[str, Any]]) -> None:
    """Answer ValidatePolicy at the HTTP layer with ``findings``, recording what was sent."""

    def respond(request: Any, **_: Any) -> AWSResponse:
        sent.append(json.loads(request.body))
        body = json.dumps({"findings": findings}).encode()
        return AWSResponse(request.url, 200, {"Content-Type": "application/json"}, RawBody(body))

    session.events.register("before-send.accessanalyzer.ValidatePolicy", respond)


def test_trust_policies_are_validated_as_assume_role_documents() -> None:
    session = boto3.Session(region_name="us-east-1")
    sent: list[dict[str, Any]] = []
    finding = {
        "findingType": "SECURITY_WARNING",
        "issueCode": "X",
        "findingDetails": "d",
        "learnMoreLink": "l",
        "locations": [],
    }
    answering(session, [finding], sent)
    analyzer = AccessAnalyzer(session, region="us-east-1")
    assert analyzer(DOCUMENT, TRUST_POLICY) == [finding]
    assert analyzer(DOCUMENT, IDENTITY_POLICY) == [finding]
    assert sent[0]["policyType"] == "RESOURCE_POLICY"
    assert sent[0]["validatePolicyResourceType"] == "AWS::IAM::AssumeRolePolicyDocument"
    assert sent[1]["policyType"] == "IDENTITY_POLICY" and "validatePolicyResourceType" not in sent[1]


def test_unknown_policy_types_are_a_programming_error() -> None:
    with pytest.raises(ValueError, match="unknown policy type"):
        AccessAnalyzer(boto3.Session(region_name="us-east-1"), region="us-east-1")(DOCUMENT, "SCP")


def test_where_access_analyzer_is_missing_reviews_go_on_without_it(caplog: pytest.LogCaptureFixture) -> None:
    with mock_aws():
        analyzer = AccessAnalyzer(boto3.Session(region_name="us-east-1"), region="us-east-1")
        assert analyzer(DOCUMENT, IDENTITY_POLICY) == []
        assert analyzer(DOCUMENT, TRUST_POLICY) == []
    assert analyzer.available is False
    assert sum("Access Analyzer is not available" in r.message for r in caplog.records) == 1


def test_a_failing_access_analyzer_is_skipped_for_a_while_then_tried_again() -> None:
    session = boto3.Session(region_name="us-east-1")
    calls: list[int] = []

    def fail(request: Any, **_: Any) -> AWSResponse:
        calls.append(1)
        body = json.dumps({"message": "boom"}).encode()
        return AWSResponse(request.url, 500, {"x-amzn-ErrorType": "InternalServerException"}, RawBody(body))

    session.events.register("before-send.accessanalyzer.ValidatePolicy", fail)
    now = [0.0]
    analyzer = AccessAnalyzer(session, region="us-east-1", clock=lambda: now[0])
    assert analyzer(DOCUMENT, IDENTITY_POLICY) == []
    assert analyzer(DOCUMENT, TRUST_POLICY) == []
    assert len(calls) == 1 and not analyzer.available
    now[0] = 301.0
    assert analyzer.available
    analyzer(DOCUMENT, IDENTITY_POLICY)
    assert len(calls) == 2
