"""When IAM last saw a role used, as the bot last read it: what App Home's "Your roles" shows.

Read from GetRole's ``RoleLastUsed`` (https://docs.aws.amazon.com/IAM/latest/APIReference/API_RoleLastUsed.html:
``LastUsedDate`` is null when the role was not used within IAM's tracking period, the trailing 400 days) by
housekeeping, in the background, and stored; App Home shows the stored reading with when it was taken, so
opening the tab asks AWS nothing.
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class LastUse:
    """One reading of a role's last use, taken at ``read_at`` (epoch seconds)."""

    read_at: float
    found: bool = True
    """The role existed when read."""
    used_at: float | None = None
    """When IAM last saw it used (None: not within its tracking period)."""
    region: str | None = None
