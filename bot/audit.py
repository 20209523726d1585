"""The audit log's hash chain (pure): what each event's hash covers, and how a chain is checked.

Every event carries ``request_hash``, the SHA-256 of its request's content as it stood when the
event was written (so the ``approved`` event records exactly what was approved), ``prev_hash``, the
hash of the event before it (the first event's is empty), and ``hash``, the SHA-256 of all of it.
Changing, removing, inserting or reordering an event, or changing a request (whose content never
changes legitimately) after an event was written about it, breaks a link ``first_broken_link`` finds.
Hashes are over canonical JSON (sorted keys, no spaces, UTF-8), so they don't depend on how a row
happens to be serialised.

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


def request_hash(row: Mapping[str, Any]) -> str:
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
    return sha256(content)


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
    events: Iterable[Mapping[str, Any]], request_hashes: Mapping[str, str]
) -> tuple[BrokenLink | None, int, str]:
    """The first broken link of ``events`` (rows in id order), how many events were checked, and the head hash.

    ``request_hashes`` maps each request id to the hash of its content as stored now. A request's
    content never changes, so every event about it must hold the same hash, and so must the request.
    """
    previous, count = GENESIS, 0
    recorded_hashes: dict[str, str] = {}
    for row in events:
        count += 1
        if row["prev_hash"] != previous:
            return BrokenLink(row["id"], row["request_id"], "does not follow the event before it"), count, previous
        if event_hash(row) != row["hash"]:
            return BrokenLink(row["id"], row["request_id"], "was changed after it was written"), count, previous
        recorded = recorded_hashes.setdefault(row["request_id"], row["request_hash"])
        if recorded != row["request_hash"]:
            problem = "holds other request content than the events before it: the request was changed in between"
            return BrokenLink(row["id"], row["request_id"], problem), count, previous
        previous = row["hash"]
    for request_id, current in request_hashes.items():
        if request_id not in recorded_hashes:
            return BrokenLink(None, request_id, "the request has no events"), count, previous
        if recorded_hashes[request_id] != current:
            return BrokenLink(None, request_id, "the request was changed after its last event"), count, previous
    return None, count, previous
