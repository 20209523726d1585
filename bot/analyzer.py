"""IAM Access Analyzer's ValidatePolicy, where AWS offers it; it steps aside where it can't help.

The review runs while Slack waits for the modal's answer, so the call is short (one attempt, short
timeouts). Where Access Analyzer does not exist (moto in tests and the demo, some partitions) or the
bot may not call it, the adapter switches off for good after the first call; on any other failure
it steps aside for a few minutes. Either way it logs once and the review goes on without it.
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


class AccessAnalyzer:
    """``analyzer(document_json, policy_type)``: Access Analyzer's findings for one policy document."""

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

    def __call__(self, document: str, policy_type: str) -> list[dict[str, Any]]:
        params: dict[str, Any] = {"policyDocument": document, "policyType": "IDENTITY_POLICY"}
        if policy_type == TRUST_POLICY:
            params.update(policyType="RESOURCE_POLICY", validatePolicyResourceType=TRUST_POLICY)
        elif policy_type != IDENTITY_POLICY:
            raise ValueError(f"unknown policy type {policy_type!r}")
        if not self.available:
            return []
        try:
            pages = self.validator().get_paginator("validate_policy").paginate(**params)
            return [finding for page in pages for finding in page.get("findings", [])]
        except ClientError as error:
            code = error.response.get("Error", {}).get("Code", "error")
            self.step_aside(code, forever=code in MISSING_CODES)
        except BotoCoreError as error:
            self.step_aside(type(error).__name__, forever=False)
        return []

    def validator(self) -> Any:
        with self.lock:
            if self.client is None:
                self.client = self.session.client("accessanalyzer", region_name=self.region, config=CLIENT_CONFIG)
            return self.client

    def step_aside(self, reason: str, *, forever: bool) -> None:
        if self.available:
            how_long = "" if forever else f" for {PAUSE_SECONDS / 60:.0f} minutes"
            log.warning("IAM Access Analyzer is not available (%s); reviews go on without it%s", reason, how_long)
        self.paused_until = float("inf") if forever else self.clock() + PAUSE_SECONDS
