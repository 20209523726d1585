"""The audit log's hash chain (pure): what each event's hash covers, and how a chain is checked.

Every event carries ``request_hash``, the SHA-256 of its request's content as it stood when the
event was written (so the ``approved`` event records exactly what was approved), ``prev_hash``, the
hash of the event before it (the first event's is empty), and ``hash``, the SHA-256 of all of it.
Changing, removing, inserting or reordering an event, or changing a request (whose content never
changes legitimately) after an event was written about it, breaks a link ``first_broken_link`` finds.
Hashes are over canonical JSON (sorted keys, no spaces, UTF-8), so they don't depend on how a row
happens to be serialised.

A request hash comes in two schemes. Events written since schema version 12 carry ``v2:`` hashes,
which also cover the request's provenance nonce (part of its role's tag, ``bot.executor.iam.owner_tag``);
events written before carry bare (version 1) hashes, which don't. Each event is checked in the scheme it
was written in, so older chains verify as they always did, and an event can't be moved to the older
scheme without changing its own hash. A request's nonce is covered from its first ``v2:`` event on.

The chain is unkeyed: someone able to rewrite the database file could recompute every hash after
their change. Record the head hash elsewhere (``iam-role-bot audit verify`` prints it) to rule that out.
"""

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

GENESIS = ""
"""``prev_hash`` of the first event."""


def canonical_json(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def sha256(value: Any) -> str:
    return hashlib.sha256(canonical_json(value)).hexdigest()


NONCE_SCHEME = "v2:"
"""The prefix of a request hash that covers the provenance nonce (``request_hash``)."""


def request_hash(row: Mapping[str, Any]) -> str:
    """A request's hash as new events record it: its content (``legacy_request_hash``) and its provenance
    nonce, which a tamperer could otherwise set to a value they know (or blank, the bare guessable tag)."""
    return NONCE_SCHEME + sha256({"content": _content(row), "provenance_nonce": row["provenance_nonce"]})


def legacy_request_hash(row: Mapping[str, Any]) -> str:
    """A request's hash as events written before schema version 12 record it: its content only."""
    return sha256(_content(row))


def request_hash_as(recorded: str, row: Mapping[str, Any]) -> str:
    """The request's hash now, in the scheme ``recorded`` (an event's ``request_hash``) was written in."""
    return request_hash(row) if recorded.startswith(NONCE_SCHEME) else legacy_request_hash(row)


def _content(row: Mapping[str, Any]) -> dict[str, Any]:
    """A request's content as approvers judge it: what it asks for, by whom, its risk and approvals needed.

    ``row`` is a ``requests`` row; its status, message and outcome columns change over its life and
    are left out. A request about an existing role (an edit, a deletion, an extension) also covers what
    it acts on: its kind, the request that made the role and its subject; a create's hash is as before.
    """
    content = {
        "id": row["id"],
        "role_type": row["role_type"],
        "account_id": row["account_id"],
        "requester": row["requester"],
        "request": json.loads(row["request_json"]),
        "risk": row["risk"],
        "required_approvals": row["required_approvals"],
    }
    if row.get("kind", "create") != "create":
        subject = json.loads(row["subject_json"]) if row.get("subject_json") else None
        content |= {"kind": row["kind"], "target_id": row.get("target_id"), "subject": subject}
    return content


def event_hash(row: Mapping[str, Any]) -> str:
    """An ``events`` row's hash: everything in it, its request's hash and the previous event's hash."""
    return sha256(
        {
            "id": row["id"],
            "request_id": row["request_id"],
            "at": row["at"],
            "actor": row["actor"],
            "kind": row["kind"],
            "details": json.loads(row["details_json"]),
            "request_hash": row["request_hash"],
            "prev_hash": row["prev_hash"],
        }
    )


@dataclass(frozen=True)
class BrokenLink:
    """Where the chain stops holding: the event (or request) and what is wrong with it."""

    event_id: int | None
    request_id: str
    problem: str

    def __str__(self) -> str:
        where = f"event {self.event_id} ({self.request_id})" if self.event_id is not None else self.request_id
        return f"{where}: {self.problem}"


def first_broken_link(
    events: Iterable[Mapping[str, Any]], requests: Mapping[str, Mapping[str, Any]]
) -> tuple[BrokenLink | None, int, str]:
    """The first broken link of ``events`` (rows in id order), how many events were checked, and the head hash.

    ``requests`` maps each request id to its ``requests`` row as stored now. A request's content (and
    nonce) never changes, so every event about it written in one hash scheme must hold the same hash, and
    the request as stored now must hash to it in that scheme.
    """
    previous, count = GENESIS, 0
    recorded_hashes: dict[tuple[str, bool], str] = {}
    for row in events:
        count += 1
        if row["prev_hash"] != previous:
            return BrokenLink(row["id"], row["request_id"], "does not follow the event before it"), count, previous
        if event_hash(row) != row["hash"]:
            return BrokenLink(row["id"], row["request_id"], "was changed after it was written"), count, previous
        scheme = (row["request_id"], row["request_hash"].startswith(NONCE_SCHEME))
        recorded = recorded_hashes.setdefault(scheme, row["request_hash"])
        if recorded != row["request_hash"]:
            problem = "holds other request content than the events before it: the request was changed in between"
            return BrokenLink(row["id"], row["request_id"], problem), count, previous
        previous = row["hash"]
    written_about = {request_id for request_id, _ in recorded_hashes}
    for request_id in requests:
        if request_id not in written_about:
            return BrokenLink(None, request_id, "the request has no events"), count, previous
    for (request_id, _), recorded in recorded_hashes.items():
        request = requests.get(request_id)
        if request is None or request_hash_as(recorded, request) != recorded:
            return BrokenLink(None, request_id, "the request was changed after its last event"), count, previous
    return None, count, previous
