"""AWS partitions: what differs between ``aws``, ``aws-cn`` and ``aws-us-gov`` for the roles the bot makes.

The partition is the bot's own (the second field of its sts:GetCallerIdentity ARN); a role can only trust
principals of its own partition, so every ARN the bot builds or accepts uses it. Sources:
https://docs.aws.amazon.com/IAM/latest/UserGuide/reference-arns.html (ARN format and partitions),
https://docs.aws.amazon.com/IAM/latest/UserGuide/id_roles_create_for-idp_saml.html (SAML:aud: the sign-in
endpoint, optionally regional), https://docs.amazonaws.cn/en_us/IAM/latest/UserGuide/id_roles_providers_create_saml_relying-party.html
(China: ``signin.amazonaws.cn``), https://docs.aws.amazon.com/govcloud-us/latest/UserGuide/govcloud-iam.html
(GovCloud console: ``signin.amazonaws-us-gov.com``). docs/aws-rules.md lists them all.
"""

import re
from dataclasses import dataclass
from typing import Literal

PartitionName = Literal["aws", "aws-cn", "aws-us-gov"]
DEFAULT_PARTITION: PartitionName = "aws"


@dataclass(frozen=True)
class Partition:
    """One partition's sign-in host (SAML audience, console switch-role link)."""

    name: PartitionName
    signin_domain: str

    @property
    def saml_audience(self) -> str:
        """The non-regional SAML audience (``SAML:aud``) AWS sets for assertions posted to this partition."""
        return f"https://signin.{self.signin_domain}/saml"

    @property
    def saml_audience_re(self) -> re.Pattern[str]:
        """The sign-in endpoints a SAML assertion can be posted to: the global one or a regional one."""
        return re.compile(rf"https://(?:[a-z]{{2}}(?:-[a-z]+)+-[0-9]\.)?signin\.{re.escape(self.signin_domain)}/saml")

    @property
    def switch_role_url(self) -> str:
        """The console's switch-role page (https://docs.aws.amazon.com/IAM/latest/UserGuide/id_roles_use_switch-role-console.html)."""
        return f"https://signin.{self.signin_domain}/switchrole"


PARTITIONS: dict[str, Partition] = {
    "aws": Partition("aws", "aws.amazon.com"),
    "aws-cn": Partition("aws-cn", "amazonaws.cn"),
    "aws-us-gov": Partition("aws-us-gov", "amazonaws-us-gov.com"),
}


def partition_of(name: str) -> Partition:
    return PARTITIONS[name]


def arn_partition(arn: str) -> str | None:
    """The partition an ARN names (``arn:PARTITION:…``), or None if it isn't one of AWS's."""
    parts = arn.split(":", 2)
    return parts[1] if len(parts) == 3 and parts[0] == "arn" and parts[1] in PARTITIONS else None
