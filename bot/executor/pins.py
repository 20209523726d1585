"""Managed policies are attached only as they were approved: the same policy, the same default version.

The review read each policy's default version and the request pins its id and version id
(``bot.domain.policy_pin``). A new default version (CreatePolicyVersion, SetDefaultPolicyVersion) or
a policy deleted and made again under the same name (a new id, versions from v1 again) means the
approvers never saw what would be attached.
"""

from typing import Any

from bot.domain.policies import pinned_version, policy_pin


def version_changed(arn: str, policy: dict[str, Any], pin: str | None) -> str | None:
    """Why a managed policy (GetPolicy's ``Policy``) can't be attached as approved; None if it can.

    ``pin`` None: the policy could not be read for the review, and the approvers were told so.
    """
    current = policy_pin(policy["PolicyId"], policy["DefaultVersionId"])
    if pin is None or current == pin:
        return None
    if current.split(":")[0] != pin.split(":")[0]:
        what = "it was deleted and made again"
    else:
        what = f"its default version is now {policy['DefaultVersionId']}, not {pinned_version(pin)}"
    return (
        f"The managed policy {arn} changed after it was approved: {what}. Nothing was created. Submit the "
        "request again so that what it allows now is reviewed and approved."
    )
