"""What both kinds of role share: reading IAM (lookups, pages, tags, several at once), provenance, the result."""

from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import asdict, dataclass
from typing import Any, TypeVar

from botocore.client import BaseClient
from botocore.exceptions import ClientError

from bot.executor.errors import error_code

PROVENANCE_KEYS = ("iam-role-bot:request-id", "iam-role-bot:requester", "iam-role-bot:approvers")
"""Tag keys for the request id, the requester and the approvers (space-separated)."""
REQUEST_ID_TAG = PROVENANCE_KEYS[0]
"""Its value is ``owner_tag(request_id, nonce)``: the request id alone would be guessable (ids are sequential),
so someone could pre-create a role carrying it and have the bot take that role for its own."""


def owner_tag(request_id: str, nonce: str) -> str:
    """The request-id tag's value: ``R-1002:<nonce>``, the nonce a secret stored with the request.

    Requests stored before nonces existed have none and keep the bare id.
    """
    return f"{request_id}:{nonce}" if nonce else request_id


def request_of(owner: str) -> str:
    """The request id in a request-id tag's value, without its nonce (fit to show)."""
    return owner.split(":", 1)[0]


LOOKUP_THREADS = 8
"""Threads shared by every provisioning run for its reads: pre-check lookups, waiting for what it made."""

T = TypeVar("T")
_lookups = ThreadPoolExecutor(max_workers=LOOKUP_THREADS, thread_name_prefix="iam-lookup")


@dataclass(frozen=True)
class ProvisionResult:
    """What was created: the role, its instance profile (EC2) and the console switch-role link."""

    role_arn: str
    role_name: str
    instance_profile_arn: str | None = None
    switch_role_url: str | None = None
    provenance_tags: dict[str, str] | None = None
    """The tags the role (and its instance profile) got; the role's exported code carries the same.
    None for a service-linked role (it cannot be tagged)."""
    role_id: str | None = None
    """IAM's RoleId of the role made (or adopted): unique and never reused, unlike the name and the tags, which
    anyone who deletes the role can give a new one ("IAM identifiers", unique identifiers:
    https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_identifiers.html#identifiers-unique-ids)."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def lookup(call: Any, **params: Any) -> dict[str, Any] | None:
    """The answer of a Get* call, or None when AWS says NoSuchEntity."""
    try:
        return call(**params)
    except ClientError as error:
        if error_code(error) == "NoSuchEntity":
            return None
        raise


def paginate(iam: BaseClient, method: str, key: str, **params: Any) -> list[Any]:
    """Every item under ``key`` of a paginated IAM list call."""
    return [item for page in iam.get_paginator(method).paginate(**params) for item in page[key]]


def tags_of(resource: dict[str, Any]) -> dict[str, str]:
    return {tag["Key"]: tag["Value"] for tag in resource.get("Tags", [])}


def made_for(resource: dict[str, Any], owner: str) -> bool:
    """The resource carries the request's provenance tag (``owner_tag``): the bot made it for this request."""
    return tags_of(resource).get(REQUEST_ID_TAG) == owner


def guessable(owner: str) -> bool:
    """A request-id tag without a nonce (a request stored before nonces): anyone who can create a role can write
    it, so a resource carrying it proves nothing about who made it."""
    return ":" not in owner


def adoptable(resource: dict[str, Any], owner: str) -> bool:
    """A resource found in AWS the bot may take as made for this request: it carries the request's tag, and that
    tag holds the request's secret nonce (a request without one never adopts anything)."""
    return made_for(resource, owner) and not guessable(owner)


def replaced(role: dict[str, Any], role_id: str | None) -> bool:
    """GetRole's ``role`` is not the role whose RoleId the bot recorded (``role_id``; None: not known, so no
    answer but the tags): the bot's was deleted and another made under its name, whatever tags it carries."""
    return role_id is not None and role.get("RoleId") != role_id


def replaced_message(role_name: str, account_id: str, role_id: str, found_id: str | None) -> str:
    """Why the bot leaves a look-alike role alone (``replaced``), for the requester and the approvers."""
    return (
        f"The role {role_name} in account {account_id} is not the one the bot made: that one (RoleId {role_id}) was "
        f"deleted and another made under its name outside the bot (RoleId {found_id}), whatever tags it "
        "carries. The bot did nothing to it; whoever made it must change or delete it."
    )


def at_once(calls: Sequence[Callable[[], T]]) -> list[Future[T]]:
    """Run independent read-only ``calls`` concurrently; their futures, in the order given, all finished.

    One round trip instead of one per call. The caller reads the outcomes in a fixed order, so what it
    reports does not depend on which answer came first; and nothing is left running when it returns.
    """
    futures = [meanwhile(call) for call in calls]
    wait(futures)
    return futures


def meanwhile(call: Callable[[], T]) -> Future[T]:
    """Start a read-only ``call`` on the shared threads; the caller goes on and collects it later."""
    return _lookups.submit(call)
