"""The data behind the Slack modal's selects: managed policies and identity providers per account.

Slack wants an answer to an options request within 3 s, so searches run on an in-memory copy per
account: fetched at start-up (``warm``), refreshed in the background once older than the TTL (the
old copy is served meanwhile), and fetched synchronously only when there is none yet — and then
with ListPolicies alone. Thread-safe: Bolt answers requests from a thread pool.
"""

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from bot.aws import AccountSessions

log = logging.getLogger(__name__)

T = TypeVar("T")

SESSION_NAME = "iam-role-bot-catalog"
DEFAULT_TTL = 15 * 60.0
RETRY_AFTER = 60.0
"""Seconds before a failed background refresh is tried again (the old copy is served meanwhile)."""
LABEL_MAX_CHARS = 75
"""Slack's limit for an option's text."""
VENDOR_PREFIXES = ("aws", "amazon")


@dataclass(frozen=True)
class Policy:
    """A managed policy as searched: its lower-cased name, with and without the vendor prefix."""

    label: str
    arn: str
    name: str
    folded: str
    unprefixed: str

    @classmethod
    def of(cls, name: str, arn: str) -> "Policy":
        aws_managed = ":iam::aws:policy/" in arn
        label = name if aws_managed else f"{name} (customer managed)"
        if len(label) > LABEL_MAX_CHARS:
            label = label[: LABEL_MAX_CHARS - 1] + "…"
        folded = name.lower()
        unprefixed = next((folded[len(p) :] for p in VENDOR_PREFIXES if folded.startswith(p)), folded)
        return cls(label, arn, name, folded, unprefixed)


@dataclass(frozen=True)
class Entry(Generic[T]):
    value: T
    fetched_at: float


class TtlCache(Generic[T]):
    """One value per account: fetched on first use, refreshed in the background once stale.

    At most one fetch per account runs at a time; a caller that finds no value waits for a fetch in
    progress instead of starting another.
    """

    def __init__(self, fetch: Callable[[str], T], *, name: str, ttl: float, clock: Callable[[], float]) -> None:
        self._fetch = fetch
        self.name = name
        self.ttl = ttl
        self._clock = clock
        self._entries: dict[str, Entry[T]] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    def _lock(self, key: str) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(key, threading.Lock())

    def _load(self, key: str) -> Entry[T]:
        entry = Entry(self._fetch(key), self._clock())
        self._entries[key] = entry
        return entry

    def get(self, key: str) -> T:
        entry = self._entries.get(key)
        if entry is None:
            with self._lock(key):
                entry = self._entries.get(key) or self._load(key)
        elif self._clock() - entry.fetched_at >= self.ttl and not self._lock(key).locked():
            self.refresh_in_background(key)
        return entry.value

    def refresh(self, key: str) -> None:
        """Fetch again now, unless a fetch is already running; a failure is logged, not raised."""
        lock = self._lock(key)
        if not lock.acquire(blocking=False):
            return
        try:
            self._load(key)
        except Exception:
            log.exception("Could not fetch %s for account %s", self.name, key)
            stale = self._entries.get(key)
            if stale is not None:
                self._entries[key] = Entry(stale.value, self._clock() - self.ttl + RETRY_AFTER)
        finally:
            lock.release()

    def refresh_in_background(self, key: str) -> threading.Thread:
        thread = threading.Thread(target=self.refresh, args=(key,), name=f"{self.name}-{key}", daemon=True)
        thread.start()
        return thread


class PolicyCatalog:
    """Managed policies (AWS managed and the account's own) and identity providers, per account."""

    def __init__(
        self, sessions: AccountSessions, *, ttl: float = DEFAULT_TTL, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.sessions = sessions
        self._policies = TtlCache(self._fetch_policies, name="catalog-policies", ttl=ttl, clock=clock)
        self._providers = TtlCache(self._fetch_providers, name="catalog-providers", ttl=ttl, clock=clock)

    def warm(self, account_id: str) -> threading.Thread:
        """Fetch the account's policies and providers in the background (call at start-up)."""

        def fetch() -> None:
            self._policies.refresh(account_id)
            self._providers.refresh(account_id)

        thread = threading.Thread(target=fetch, name=f"catalog-warm-{account_id}", daemon=True)
        thread.start()
        return thread

    def search(self, account_id: str, query: str, limit: int = 100) -> list[tuple[str, str]]:
        """``(label, arn)`` of the policies whose name holds every word of ``query`` (any case).

        Names that start with the first word (ignoring an AWS/Amazon prefix) come first, then
        shorter names before longer ones.
        """
        words = query.lower().split()
        first = words[0] if words else ""
        prefixed: list[Policy] = []
        others: list[Policy] = []
        for policy in self._policies.get(account_id):
            if all(word in policy.folded for word in words):
                starts = policy.folded.startswith(first) or policy.unprefixed.startswith(first)
                (prefixed if starts else others).append(policy)
                if len(prefixed) >= limit:
                    break
        return [(policy.label, policy.arn) for policy in (prefixed + others)[:limit]]

    def providers(self, account_id: str) -> dict[str, list[str]]:
        """The account's identity provider ARNs: ``{"saml": [...], "oidc": [...]}``."""
        return {kind: list(arns) for kind, arns in self._providers.get(account_id).items()}

    def _fetch_policies(self, account_id: str) -> tuple[Policy, ...]:
        """All managed policies, shortest name first (the order searches rank by)."""
        started = time.monotonic()
        iam = self.sessions.iam_client(account_id, session_name=SESSION_NAME)
        pages = iam.get_paginator("list_policies").paginate(Scope="All", PaginationConfig={"PageSize": 1000})
        policies = [Policy.of(item["PolicyName"], item["Arn"]) for page in pages for item in page["Policies"]]
        policies.sort(key=lambda policy: (len(policy.name), policy.folded))
        log.info("Fetched %d policies of account %s in %.1f s", len(policies), account_id, time.monotonic() - started)
        return tuple(policies)

    def _fetch_providers(self, account_id: str) -> dict[str, tuple[str, ...]]:
        iam = self.sessions.iam_client(account_id, session_name=SESSION_NAME)
        saml = iam.list_saml_providers()["SAMLProviderList"]
        oidc = iam.list_open_id_connect_providers()["OpenIDConnectProviderList"]
        return {
            "saml": tuple(sorted(item["Arn"] for item in saml)),
            "oidc": tuple(sorted(item["Arn"] for item in oidc)),
        }
