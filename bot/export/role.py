"""What an export is made from, read off the plan the executor carried out."""

from dataclasses import dataclass
from typing import Any

from bot.domain import PlanStep, RoleRequest, ServiceLinkedRoleRequest


@dataclass(frozen=True)
class CreatedRole:
    """A created role: the request (its state now), the id of the request that created it, its provenance tags
    and the ARNs AWS answered with; ``changed_by``: the edit request whose state ``request`` is, if any."""

    request: RoleRequest
    request_id: str
    provenance_tags: dict[str, str]
    role_arn: str
    instance_profile_arn: str | None = None
    changed_by: str | None = None

    @property
    def role_name(self) -> str:
        """The role's name as created (a service-linked role's is AWS's choice, so read it off the ARN)."""
        return self.role_arn.rsplit("/", 1)[-1]

    @property
    def account_id(self) -> str:
        return self.role_arn.split(":")[4]

    def plan(self) -> list[PlanStep]:
        """The IAM calls that made the role, as the executor made them: with the provenance tags on the
        steps it adds them to (``Action.provenance_tags``), and a service-linked role as created."""
        steps = self.request.plan(self.provenance_tags)
        if isinstance(self.request, ServiceLinkedRoleRequest):
            return [self._service_linked_as_created(steps[0])]
        tags = [{"Key": key, "Value": value} for key, value in self.provenance_tags.items()]
        return [PlanStep(s.action, {"Tags": tags, **s.params}) if s.kind.provenance_tags else s for s in steps]

    def _service_linked_as_created(self, step: PlanStep) -> PlanStep:
        """The executor drops CustomSuffix when the service refuses it; the ARN tells whether it did."""
        params = dict(step.params)
        suffix = params.get("CustomSuffix")
        if suffix and not self.role_name.endswith(f"_{suffix}"):
            del params["CustomSuffix"]
        return PlanStep(step.action, params)

    def steps(self, action: str) -> list[dict[str, Any]]:
        """The parameters of every plan step of ``action``."""
        return [step.params for step in self.plan() if step.action == action]

    def one(self, action: str) -> dict[str, Any] | None:
        found = self.steps(action)
        return found[0] if found else None

    def summary(self) -> str:
        """One line naming the request and where the role lives, for the file's header."""
        changed = f", last changed by request {self.changed_by}" if self.changed_by else ""
        return (
            f"IAM role {self.role_name} in account {self.account_id}, created by iam-role-bot "
            f"for request {self.request_id}{changed}"
        )
