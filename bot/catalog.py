"""The data behind the Slack modal's selects and the review: managed policies, their documents and
identity providers per account.

Slack wants an answer to an options request within 3 s, so searches run on an in-memory copy per
account: fetched at start-up (``warm``), refreshed in the background once older than the TTL (the
old copy is served meanwhile), and fetched synchronously only when there is none yet — and then
with ListPolicies alone. Thread-safe: Bolt answers requests from a thread pool.

A submission's review needs each managed policy's default version (``managed_policies``). Those are
cached too: the account's own policies are read at start-up, AWS managed ones on first use. Before
Slack's ack a submission reads only the cache (and starts the reads it lacks); after the ack it waits
for them within the intake's deadline; a policy not read by then is reported unread (high risk) and
its fetch finishes in the background, for the next time.
"""

import json
import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any, Generic, TypeVar
from urllib.parse import unquote

from botocore.exceptions import ClientError

from bot.aws import AccountSessions
from bot.domain import AssumableRoleRequest, ManagedPolicy, RequestInvalid, RoleRequest

log = logging.getLogger(__name__)

T = TypeVar("T")

DEFAULT_TTL = 15 * 60.0
RETRY_AFTER = 60.0
"""Seconds before a failed background refresh is tried again (the old copy is served meanwhile)."""
RECHECK_AFTER = 10.0
"""Seconds a fetched list counts as fresh for a search that found nothing (``refreshed_within``): typing
can't make the bot call AWS more often than this per account."""
LABEL_MAX_CHARS = 75
"""Slack's limit for an option's text."""
VENDOR_PREFIXES = ("aws", "amazon")
DOCUMENT_WAIT = 1.0
"""Seconds ``managed_policies`` waits by default for documents not cached yet."""
DOCUMENT_FETCHERS = 4


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


class PoliciesNotFound(Exception):
    """Managed policies IAM says do not exist in the account."""

    def __init__(self, account_id: str, arns: list[str]) -> None:
        super().__init__(f"No such managed policies in {account_id}: {', '.join(arns)}")
        self.account_id = account_id
        self.arns = arns


def is_missing(error: BaseException | None) -> bool:
    return isinstance(error, ClientError) and error.response.get("Error", {}).get("Code") == "NoSuchEntity"


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
        self._loaded = threading.Condition()
        """Notified whenever a value is fetched (``get_within`` and ``refreshed_within`` wait on it)."""

    def _lock(self, key: str) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(key, threading.Lock())

    def _load(self, key: str) -> Entry[T]:
        entry = Entry(self._fetch(key), self._clock())
        with self._loaded:
            self._entries[key] = entry
            self._loaded.notify_all()
        return entry

    def get(self, key: str) -> T:
        entry = self._entries.get(key)
        if entry is None:
            with self._lock(key):
                entry = self._entries.get(key) or self._load(key)
        elif self._clock() - entry.fetched_at >= self.ttl and not self._lock(key).locked():
            self.refresh_in_background(key)
        return entry.value

    def get_within(self, key: str, seconds: float) -> T | None:
        """Like ``get``, but a value not fetched yet is waited for at most ``seconds`` (None if still not there).

        The fetch goes on in the background, so a later call finds it.
        """
        if key not in self._entries:
            self.refresh_in_background(key)
            with self._loaded:
                self._loaded.wait_for(lambda: key in self._entries, timeout=seconds)
            if key not in self._entries:
                return None
        return self.get(key)

    def refreshed_within(self, key: str, seconds: float) -> T | None:
        """The value fetched afresh, waiting at most ``seconds`` (else what there is).

        Fetched again at most once per ``RECHECK_AFTER`` seconds, however often people search.
        """
        entry = self._entries.get(key)
        if entry is not None and self._clock() - entry.fetched_at < RECHECK_AFTER:
            return entry.value
        self.refresh_in_background(key)
        with self._loaded:
            self._loaded.wait_for(lambda: self._entries.get(key) is not entry, timeout=seconds)
        latest = self._entries.get(key)
        return None if latest is None else latest.value

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
        self.ttl = ttl
        self._clock = clock
        self._documents: dict[tuple[str, str], Entry[ManagedPolicy]] = {}
        self._reading: dict[tuple[str, str], Future[ManagedPolicy]] = {}
        self._documents_guard = threading.Lock()
        self._readers = ThreadPoolExecutor(max_workers=DOCUMENT_FETCHERS, thread_name_prefix="catalog-documents")

    def warm(self, account_id: str) -> threading.Thread:
        """Fetch the account's policies, providers and its own policies' documents in the background
        (call at start-up)."""

        def fetch() -> None:
            self._policies.refresh(account_id)
            self._providers.refresh(account_id)
            try:
                own = [p.arn for p in self._policies.get(account_id) if ":iam::aws:policy/" not in p.arn]
                self.managed_policies(account_id, own, wait_seconds=None)
            except PoliciesNotFound:
                pass  # deleted since it was listed: nothing to review
            except Exception:
                log.exception("Could not read the policies of account %s", account_id)

        thread = threading.Thread(target=fetch, name=f"catalog-warm-{account_id}", daemon=True)
        thread.start()
        return thread

    def search(self, account_id: str, query: str, limit: int = 100) -> list[tuple[str, str]]:
        """``(label, arn)`` of the policies whose name holds every word of ``query`` (any case).

        Names that start with the first word (ignoring an AWS/Amazon prefix) come first, then
        shorter names before longer ones.
        """
        return rank(self._policies.get(account_id), query, limit)

    def search_within(
        self, account_id: str, query: str, seconds: float, limit: int = 100
    ) -> list[tuple[str, str]] | None:
        """``search``, but None if the account's policies were never fetched and don't arrive within ``seconds``
        (the fetch goes on in the background)."""
        policies = self._policies.get_within(account_id, seconds)
        return None if policies is None else rank(policies, query, limit)

    def providers(self, account_id: str) -> dict[str, list[str]]:
        """The account's identity provider ARNs: ``{"saml": [...], "oidc": [...]}``."""
        return {kind: list(arns) for kind, arns in self._providers.get(account_id).items()}

    def managed_policies(
        self,
        account_id: str,
        arns: Iterable[str],
        *,
        wait_seconds: float | None = DOCUMENT_WAIT,
        pins: Mapping[str, str] | None = None,
    ) -> dict[str, ManagedPolicy | None]:
        """Each policy's default version, from the cache or read now; None for one not read in time.

        A cached copy older than the TTL is served and read again in the background: the version it
        pins is checked again before the role is created, so a stale copy can't slip through. ``pins``: the
        versions known to be the default now (read in IAM); a cached copy of another one is read again first.
        ``wait_seconds=None`` waits for every read. Raises ``PoliciesNotFound`` for ARNs IAM doesn't know.
        """
        arns = list(dict.fromkeys(arns))
        found: dict[str, ManagedPolicy | None] = {}
        reading: dict[str, Future[ManagedPolicy]] = {}
        now = self._clock()
        for arn in arns:
            entry = self._documents.get((account_id, arn))
            if entry is not None and (pins or {}).get(arn, entry.value.pin) != entry.value.pin:
                entry = None
            if entry is not None:
                found[arn] = entry.value
                if now - entry.fetched_at >= self.ttl:
                    self._read(account_id, arn)
            else:
                reading[arn] = self._read(account_id, arn)
        if reading:
            wait(reading.values(), timeout=wait_seconds)
        missing = [arn for arn, future in reading.items() if future.done() and is_missing(future.exception())]
        if missing:
            raise PoliciesNotFound(account_id, missing)
        for arn, future in reading.items():
            found[arn] = future.result() if future.done() and future.exception() is None else None
        return {arn: found.get(arn) for arn in arns}

    def wait_for_reads(self, timeout: float | None = None) -> None:
        """Wait for the document reads under way (tests, shutdown)."""
        with self._documents_guard:
            reading = list(self._reading.values())
        wait(reading, timeout=timeout)

    def _read(self, account_id: str, arn: str) -> "Future[ManagedPolicy]":
        """The read under way for a policy, or a new one; its result is in the cache once it is done."""
        key = (account_id, arn)
        with self._documents_guard:
            future = self._reading.get(key)
            if future is None:
                future = self._readers.submit(self._read_into_cache, account_id, arn)
                self._reading[key] = future
            return future

    def _read_into_cache(self, account_id: str, arn: str) -> ManagedPolicy:
        key = (account_id, arn)
        try:
            policy = self._fetch_document(account_id, arn)
        except Exception as error:
            log.warning("Could not read the managed policy %s of account %s: %s", arn, account_id, error)
            with self._documents_guard:
                self._reading.pop(key, None)
            raise
        with self._documents_guard:
            self._documents[key] = Entry(policy, self._clock())
            self._reading.pop(key, None)
        return policy

    def _fetch_document(self, account_id: str, arn: str) -> ManagedPolicy:
        iam = self.sessions.iam_client(account_id)
        policy = iam.get_policy(PolicyArn=arn)["Policy"]
        version_id = policy["DefaultVersionId"]
        version = iam.get_policy_version(PolicyArn=arn, VersionId=version_id)["PolicyVersion"]
        return ManagedPolicy(arn, version_id, policy_document(version["Document"]), policy["PolicyId"])

    def providers_within(self, account_id: str, seconds: float, *, fresh: bool = False) -> dict[str, list[str]] | None:
        """``providers``, waiting at most ``seconds`` (None if never fetched by then); ``fresh``: fetch them again
        first (a search that found nothing: the provider may have been added since)."""
        cache = self._providers
        found = cache.refreshed_within(account_id, seconds) if fresh else cache.get_within(account_id, seconds)
        return None if found is None else {kind: list(arns) for kind, arns in found.items()}

    def _fetch_policies(self, account_id: str) -> tuple[Policy, ...]:
        """All managed policies, shortest name first (the order searches rank by)."""
        started = time.monotonic()
        iam = self.sessions.iam_client(account_id)
        pages = iam.get_paginator("list_policies").paginate(Scope="All", PaginationConfig={"PageSize": 1000})
        policies = [Policy.of(item["PolicyName"], item["Arn"]) for page in pages for item in page["Policies"]]
        policies.sort(key=lambda policy: (len(policy.name), policy.folded))
        log.info("Fetched %d policies of account %s in %.1f s", len(policies), account_id, time.monotonic() - started)
        return tuple(policies)

    def _fetch_providers(self, account_id: str) -> dict[str, tuple[str, ...]]:
        iam = self.sessions.iam_client(account_id)
        saml = iam.list_saml_providers()["SAMLProviderList"]
        oidc = iam.list_open_id_connect_providers()["OpenIDConnectProviderList"]
        return {
            "saml": tuple(sorted(item["Arn"] for item in saml)),
            "oidc": tuple(sorted(item["Arn"] for item in oidc)),
        }


def policy_document(document: Any) -> dict[str, Any]:
    """A policy version's document: boto3 decodes it to a dict; the raw API gives URL-encoded JSON
    (https://docs.aws.amazon.com/IAM/latest/APIReference/API_PolicyVersion.html)."""
    return document if isinstance(document, dict) else json.loads(unquote(document))


def pin_managed_policies(
    catalog: PolicyCatalog, request: RoleRequest, *, wait_seconds: float | None = DOCUMENT_WAIT
) -> tuple[RoleRequest, dict[str, ManagedPolicy | None]]:
    """The request with its managed policies pinned as read now, and what was read, for the review
    (``wait_seconds`` as in ``PolicyCatalog.managed_policies``; 0: only what is cached, reads start meanwhile).

    ``RequestInvalid`` on ``managed_policy_arns`` when IAM says a policy does not exist.
    """
    if not isinstance(request, AssumableRoleRequest):
        return request, {}
    try:
        managed = catalog.managed_policies(request.account_id, request.managed_policy_arns, wait_seconds=wait_seconds)
    except PoliciesNotFound as missing:
        said = f"No such managed policy in account {missing.account_id}: {', '.join(missing.arns)}."
        raise RequestInvalid({"managed_policy_arns": said}) from None
    return request.pinned({arn: policy.pin for arn, policy in managed.items() if policy}), managed


def rank(policies: tuple[Policy, ...], query: str, limit: int) -> list[tuple[str, str]]:
    """``(label, arn)`` of ``policies`` holding every word of ``query``, those starting with the first word first."""
    words = query.lower().split()
    first = words[0] if words else ""
    prefixed: list[Policy] = []
    others: list[Policy] = []
    for policy in policies:
        if all(word in policy.folded for word in words):
            starts = policy.folded.startswith(first) or policy.unprefixed.startswith(first)
            (prefixed if starts else others).append(policy)
            if len(prefixed) >= limit:
                break
    return [(policy.label, policy.arn) for policy in (prefixed + others)[:limit]]
