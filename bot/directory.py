"""Slack user-group membership, for approvers designated as a user group (cached, fail-closed)."""

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
        self.lock = threading.Lock()

    def __call__(self, group_id: str) -> Collection[str]:
        with self.lock:
            cached = self.cache.get(group_id)
        if cached and time.monotonic() - cached[0] < self.ttl:
            return cached[1]
        try:
            users: frozenset[str] = frozenset(self.client.usergroups_users_list(usergroup=group_id).get("users", []))
        except SlackApiError as error:
            if error.response.get("error") == "missing_scope":
                log.error("cannot read user group %s: add the usergroups:read scope to the Slack app", group_id)
            else:
                log.warning("could not read user group %s: %s", group_id, error.response.get("error"))
            return frozenset()
        with self.lock:
            self.cache[group_id] = (time.monotonic(), users)
        return users
