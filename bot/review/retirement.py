"""What an approver should know before a role is deleted: whether it is still in use, and by what.

Pure: the role as read in AWS and the time are passed in. Deleting cannot be undone, so the last
use is always said (never "nothing to flag").
"""

from datetime import datetime

from bot.domain.retire import RoleToRetire
from bot.review.findings import Finding, Severity, most_severe_first

RECENT_DAYS = 30
"""A role used within this many days is probably still needed by something."""


def retirement_findings(role: RoleToRetire, now: datetime) -> list[Finding]:
    """The last use (a warning when recent) and the instance profiles EC2 may still hand out."""
    findings = [_last_use(role, now)]
    if role.instance_profiles:
        names = ", ".join(profile.name for profile in role.instance_profiles)
        findings.append(
            Finding(
                Severity.WARNING,
                "Instance profile in use by EC2?",
                f"The role is in the instance profile(s) {names}. Instances launched with them lose the role's "
                "access once it is deleted (https://docs.aws.amazon.com/IAM/latest/APIReference/API_DeleteRole.html).",
                "instance_profiles",
            )
        )
    return most_severe_first(findings)


def _last_use(role: RoleToRetire, now: datetime) -> Finding:
    if not role.last_used_at:
        return Finding(
            Severity.INFO,
            "Not used recently",
            "IAM has no record of the role being used within its tracking period.",
            "last_used",
        )
    days = (now - datetime.fromisoformat(role.last_used_at)).days
    if days < RECENT_DAYS:
        return Finding(
            Severity.WARNING,
            f"Used {days} day(s) ago",
            f"The role was {role.last_used()}; something may still depend on it. Deleting cannot be undone.",
            "last_used",
        )
    return Finding(Severity.INFO, f"Last used {days} days ago", f"The role was {role.last_used()}.", "last_used")
