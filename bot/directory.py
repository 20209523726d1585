"""Slack user-group membership, for approvers designated as a user group (cached, fail-closed).

Membership is read while Slack waits for an answer (``/iam-role status``, the reject form and its
submission, App Home), and ``usergroups.users.list`` is a Web API round trip that may sleep through
rate limits. So only the cache is read: the group is fetched at start-up (``warm``) and refreshed in
the background once stale, the old list served meanwhile; a group not fetched yet counts as empty
(nobody approves through it until its fetch lands), and its fetch starts.
"""

import logging
import threading
import time
from collections.abc import Collection

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

log = logging.getLogger(__name__)


class UsergroupMembers:
    """``members(group_id)``: the group's user IDs, cached for ``ttl`` seconds; empty when Slack fails."""

    def __init__(self, client: WebClient, *, ttl: float = 300) -> None:
        self.client = client
        self.ttl = ttl
        self.cache: dict[str, tuple[float, frozenset[str]]] = {}
        self.fetching: dict[str, threading.Thread] = {}
        self.lock = threading.Lock()

    def __call__(self, group_id: str) -> Collection[str]:
        with self.lock:
            cached = self.cache.get(group_id)
        if cached is not None:
            if time.monotonic() - cached[0] >= self.ttl:
                self.warm(group_id)
            return cached[1]
        self.warm(group_id)
        return frozenset()

    def warm(self, group_id: str) -> threading.Thread:
        """Fetch the group's members in the background (one fetch per group at a time)."""
        with self.lock:
            running = self.fetching.get(group_id)
            if running is not None and running.is_alive():
                return running
            thread = threading.Thread(target=self.fetch, args=(group_id,), name=f"usergroup-{group_id}", daemon=True)
            self.fetching[group_id] = thread
        thread.start()
        return thread

    def fetch(self, group_id: str) -> None:
        try:
            users: frozenset[str] = frozenset(self.client.usergroups_users_list(usergroup=group_id).get("users", []))
        except SlackApiError as error:
            if error.response.get("error") == "missing_scope":
                log.error("cannot read user group %s: add the usergroups:read scope to the Slack app", group_id)
            else:
                log.warning("could not read user group %s: %s", group_id, error.response.get("error"))
            return
        except OSError as error:
            log.warning("could not read user group %s: %s", group_id, type(error).__name__)
            return
        with self.lock:
            self.cache[group_id] = (time.monotonic(), users)
