"""Is a role name already taken in an account? Asked at submission, so a request for a name someone
else holds is refused next to the name field instead of failing after approval.

IAM role names are unique in an account ignoring case, and GetRole finds a role by its name in any
case (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_iam-quotas.html#reference_iam-quotas-names:
"names are not distinguished by case"; moto compares them exactly, so tests use the exact name).
The check runs while Slack waits for the modal's answer, so it is one short GetRole (one attempt,
short timeouts) that steps aside for a few minutes after a failure, as ``bot.analyzer`` does; the
executor checks again before it creates anything.
"""

import logging
import threading
import time
from collections.abc import Callable

from botocore.client import BaseClient
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from bot.aws import AccountSessions

log = logging.getLogger(__name__)

CLIENT_CONFIG = Config(retries={"mode": "standard", "total_max_attempts": 1}, connect_timeout=0.3, read_timeout=0.6)
"""One attempt with short timeouts: a submission waits at most ~1 s for the answer, then goes on without it."""
PAUSE_SECONDS = 300.0


class ExistingRoles:
    """``taken(account_id, role_name)``: True if the account has a role of that name, False if not, None if unknown."""

    def __init__(self, sessions: AccountSessions, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.sessions = sessions
        self.clock = clock
        self.paused_until = 0.0
        self.lock = threading.Lock()
        self.clients: dict[str, BaseClient] = {}

    def taken(self, account_id: str, role_name: str) -> bool | None:
        if self.clock() < self.paused_until:
            return None
        try:
            self.client(account_id).get_role(RoleName=role_name)
        except ClientError as error:
            code = error.response.get("Error", {}).get("Code", "error")
            if code == "NoSuchEntity":
                return False
            self.step_aside(account_id, code)
            return None
        except BotoCoreError as error:
            self.step_aside(account_id, type(error).__name__)
            return None
        return True

    def client(self, account_id: str) -> BaseClient:
        with self.lock:
            if account_id not in self.clients:
                self.clients[account_id] = self.sessions.new_iam_client(account_id, config=CLIENT_CONFIG)
            return self.clients[account_id]

    def step_aside(self, account_id: str, reason: str) -> None:
        """Pause the checks; the account's client is made afresh next time (its credentials may have expired)."""
        with self.lock:
            self.clients.pop(account_id, None)
        if self.clock() >= self.paused_until:
            log.warning(
                "Could not check role names in account %s (%s); submissions go on without it for %.0f minutes",
                account_id,
                reason,
                PAUSE_SECONDS / 60,
            )
        self.paused_until = self.clock() + PAUSE_SECONDS
