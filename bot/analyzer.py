"""IAM Access Analyzer's ValidatePolicy, where AWS offers it; it switches itself off where it doesn't.

Under moto (tests, the demo) and in partitions or setups without Access Analyzer, the first call
fails; the adapter then logs once and answers with no findings, so the review is skipped cleanly
instead of flagging every request.
"""

import logging
import threading
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from bot.review import IDENTITY_POLICY, TRUST_POLICY

log = logging.getLogger(__name__)
UNAVAILABLE_CODES = {"404", "NotImplemented", "UnknownOperationException", "AccessDeniedException",
                     "UnrecognizedClientException", "InvalidAction"}


class AccessAnalyzer:
    """``analyzer(document_json, policy_type)``: Access Analyzer's findings for one policy document."""

    def __init__(self, session: boto3.Session, *, region: str) -> None:
        self.session = session
        self.region = region
        self.available = True
        self.lock = threading.Lock()

    def __call__(self, document: str, policy_type: str) -> list[dict[str, Any]]:
        if not self.available:
            return []
        params: dict[str, Any] = {"policyDocument": document, "policyType": "IDENTITY_POLICY"}
        if policy_type == TRUST_POLICY:
            params.update(policyType="RESOURCE_POLICY", validatePolicyResourceType=TRUST_POLICY)
        elif policy_type != IDENTITY_POLICY:
            raise ValueError(f"unknown policy type {policy_type!r}")
        try:
            with self.lock:
                client = self.session.client("accessanalyzer", region_name=self.region)
            pages = client.get_paginator("validate_policy").paginate(**params)
            return [finding for page in pages for finding in page.get("findings", [])]
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") not in UNAVAILABLE_CODES:
                raise
            self.switch_off(error.response["Error"].get("Code", "error"))
        except BotoCoreError as error:
            self.switch_off(type(error).__name__)
        return []

    def switch_off(self, reason: str) -> None:
        if self.available:
            log.warning("IAM Access Analyzer is not available here (%s); reviews go on without it", reason)
        self.available = False
