"""The organisation's guardrails: rules every request must meet, whoever approves it."""

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class Guardrails(BaseModel):
    """Guardrails from the ``[guardrails]`` table of the policy file; empty means no restriction."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    allowed_accounts: list[str] = []
    role_name_prefix: str | None = None
    required_path: str | None = None
    required_boundary_arn: str | None = None
    forbidden_managed_policies: list[str] = []
    max_session_duration: int | None = Field(default=None, ge=3600, le=43200)
    allowed_service_principals: list[str] = []
    high_risk: Literal["refuse", "require_approvals"] = "require_approvals"
