"""AWS limits and quotas that role requests are checked against."""

from dataclasses import dataclass
from typing import Literal

PROVENANCE_TAG_PREFIX = "iam-role-bot:"
AWS_MAX_TAGS_PER_ROLE = 50


@dataclass(frozen=True)
class Limits:
    """Account quotas (adjustable in AWS, so configurable here) and the bot's own tag budget.

    ``reserved_tags`` is how many of the 50 tags per role the bot keeps for its provenance tags
    (request id, requester, approvers), so a request never fails in AWS on the tag limit.
    """

    trust_policy_max_chars: int = 2048
    managed_policies_per_role: int = 10
    inline_policy_max_chars: int = 10240
    reserved_tags: int = 3

    @property
    def max_user_tags(self) -> int:
        return AWS_MAX_TAGS_PER_ROLE - self.reserved_tags


LENIENT_LIMITS = Limits(
    trust_policy_max_chars=1_000_000,
    managed_policies_per_role=1_000,
    inline_policy_max_chars=1_000_000,
    reserved_tags=0,
)
"""Used to load requests that were validated when stored, whatever the quotas are today."""


Quota = Literal["managed policies", "trust policy", "inline policy"]

OVER_QUOTA: dict[Quota, str] = {
    "managed policies": "This account allows {allowed} managed policies per role; the request has {has}.",
    "trust policy": "This account allows trust policies of {allowed} characters (not counting spaces); "
    "the request's has {has}.",
    "inline policy": "This account allows {allowed} characters (not counting spaces) of inline policy per role; "
    "the request's has {has}.",
}


def over_quota(quota: Quota, *, allowed: int | str, has: int) -> str:
    """The one sentence for a request over an account quota (said at validation, pre-check and failure)."""
    return OVER_QUOTA[quota].format(allowed=allowed, has=has)
