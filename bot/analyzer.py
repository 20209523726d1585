"""IAM Access Analyzer's ValidatePolicy and CheckNoNewAccess, where AWS offers them; each steps aside where it
can't help.

Both run after Slack's ack but under the submission's deadline, so each call is short (one attempt, short
timeouts). Where Access Analyzer does not exist (moto in tests and the demo, some partitions) or the bot may
not call it, the adapter switches off for good after the first call; on any other failure it steps aside for
a few minutes. Either way it logs once and the review goes on without it. The two operations switch off
apart: a role allowed ValidatePolicy may lack ``access-analyzer:CheckNoNewAccess``.
"""

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from bot.review import IDENTITY_POLICY, TRUST_POLICY
from bot.review.narrowing import NEW_ACCESS_POLICY_TYPES

log = logging.getLogger(__name__)
MISSING_CODES = {
    "404",
    "501",
    "NotImplemented",
    "UnknownOperationException",
    "AccessDeniedException",
    "UnrecognizedClientException",
    "InvalidAction",
}
PAUSE_SECONDS = 300.0
CLIENT_CONFIG = Config(retries={"mode": "standard", "total_max_attempts": 1}, connect_timeout=0.5, read_timeout=1.0)
"""One attempt with short timeouts: a review waits at most ~1.5 s for Access Analyzer, then it steps aside."""
NEW_ACCESS_CLIENT_CONFIG = Config(
    retries={"mode": "standard", "total_max_attempts": 1}, connect_timeout=0.5, read_timeout=5.0
)
"""CheckNoNewAccess reasons over the policies (automated reasoning), so it gets longer to answer than
ValidatePolicy; still one attempt, and the submission's deadline (``bot.intake``) bounds the wait."""


class AccessAnalyzerCall:
    """One Access Analyzer operation through its own client, switched off where AWS lacks it."""

    what = "IAM Access Analyzer"
    config = CLIENT_CONFIG

    def __init__(self, session: boto3.Session, *, region: str, clock: Callable[[], float] = time.monotonic) -> None:
        self.session = session
        self.region = region
        self.clock = clock
        self.paused_until = 0.0
        self.lock = threading.Lock()
        self.client: Any = None

    @property
    def available(self) -> bool:
        return self.clock() >= self.paused_until

    def analyzer(self) -> Any:
        """This operation's client, made once (tests stub it with botocore's ``Stubber``)."""
        with self.lock:
            if self.client is None:
                self.client = self.session.client("accessanalyzer", region_name=self.region, config=self.config)
            return self.client

    def failed(self, error: Exception) -> None:
        """Step aside after ``error``: for good where AWS lacks the operation, else for ``PAUSE_SECONDS``."""
        if isinstance(error, ClientError):
            code = error.response.get("Error", {}).get("Code", "error")
            self.step_aside(code, forever=code in MISSING_CODES)
        else:
            self.step_aside(type(error).__name__, forever=False)

    def step_aside(self, reason: str, *, forever: bool) -> None:
        if self.available:
            how_long = "" if forever else f" for {PAUSE_SECONDS / 60:.0f} minutes"
            log.warning("%s is not available (%s); reviews go on without it%s", self.what, reason, how_long)
        self.paused_until = float("inf") if forever else self.clock() + PAUSE_SECONDS


class AccessAnalyzer(AccessAnalyzerCall):
    """``analyzer(document_json, policy_type)``: Access Analyzer's findings for one policy document."""

    def __call__(self, document: str, policy_type: str) -> list[dict[str, Any]]:
        params: dict[str, Any] = {"policyDocument": document, "policyType": "IDENTITY_POLICY"}
        if policy_type == TRUST_POLICY:
            params.update(policyType="RESOURCE_POLICY", validatePolicyResourceType=TRUST_POLICY)
        elif policy_type != IDENTITY_POLICY:
            raise ValueError(f"unknown policy type {policy_type!r}")
        if not self.available:
            return []
        try:
            pages = self.analyzer().get_paginator("validate_policy").paginate(**params)
            return [finding for page in pages for finding in page.get("findings", [])]
        except (ClientError, BotoCoreError) as error:
            self.failed(error)
        return []


class NoNewAccess(AccessAnalyzerCall):
    """``check(existing_json, new_json, policy_type)``: Access Analyzer's CheckNoNewAccess answer (``result``
    PASS or FAIL, ``message``, ``reasons``), or None where it could not be asked.

    https://docs.aws.amazon.com/access-analyzer/latest/APIReference/API_CheckNoNewAccess.html: ``policyType``
    is ``IDENTITY_POLICY`` (managed and inline policies of roles) or ``RESOURCE_POLICY`` (which "include trust
    policies for IAM roles"); PASS means the new policy allows no new access, FAIL that it may. Each check is
    charged (https://docs.aws.amazon.com/IAM/latest/UserGuide/access-analyzer-checks-validating-policies.html),
    so the bot asks only about edits its own comparison already finds narrowing (``bot.review.narrowing``).
    """

    what = "IAM Access Analyzer's CheckNoNewAccess"
    config = NEW_ACCESS_CLIENT_CONFIG

    def __call__(self, existing: str, new: str, policy_type: str) -> dict[str, Any] | None:
        if policy_type not in NEW_ACCESS_POLICY_TYPES:
            raise ValueError(f"unknown policy type {policy_type!r}")
        if not self.available:
            return None
        try:
            answer = self.analyzer().check_no_new_access(
                existingPolicyDocument=existing, newPolicyDocument=new, policyType=policy_type
            )
        except (ClientError, BotoCoreError) as error:
            self.failed(error)
            return None
        return {key: answer[key] for key in ("result", "message", "reasons") if key in answer}
