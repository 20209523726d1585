"""``iam-role-bot demo``: the real bot, driven as Slack would drive it, against an embedded sandbox.

The same app and listeners as production serve HTTP on loopback; a local fake Slack Web API
records what the bot says; moto plays AWS. Requesters and approvers act through signed Slack
requests, and the transcript shows what each of them would see.
"""

import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from blocks import ids
from bot.config import Policy
from bot.executor.iam import request_of
from bot.guardrails import Guardrails
from bot.sandbox.aws import SandboxAws, start_sandbox_aws
from bot.sandbox.stack import ANNOUNCE_CHANNEL, APPROVAL_CHANNEL, COMMAND_CHANNEL, BotStack
from bot.sandbox.transcript import Transcript

PEOPLE = {"U0ALICE": "alice", "U0BOB": "bob", "U0CAROL": "carol", "U0DANA": "dana"}
APPROVERS = ["U0BOB", "U0DANA"]
CHANNELS = {APPROVAL_CHANNEL: "#iam-approvals", ANNOUNCE_CHANNEL: "#iam-roles-created", COMMAND_CHANNEL: "#general"}
EXAMPLE_POLICY = (
    '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject"], '
    '"Resource": "arn:aws:s3:::acme-web-assets/*"}]}'
)


class Demo:
    """A sandboxed bot plus the people who use it."""

    def __init__(self, workdir: Path, out: Callable[[str], None]) -> None:
        self.out = out
        self.aws: SandboxAws = start_sandbox_aws()
        policy = Policy(guardrails=Guardrails(required_boundary_arn=self.aws.boundary_arn))
        self.stack = BotStack(workdir, approvers=APPROVERS, policy=policy, aws_session=self.aws.session)
        for user_id, name in PEOPLE.items():
            self.stack.slack.add_user(user_id, name=name, real_name=name.title())
        self.runtime = self.stack.runtime
        self.slack = self.stack.slack
        self.driver = self.stack.driver
        self.seen = 0
        self.transcript = Transcript(PEOPLE, CHANNELS)

    def close(self) -> None:
        self.stack.close()
        self.aws.stop()

    # --- narration -------------------------------------------------------------------------

    def step(self, text: str) -> None:
        self.show()
        self.out(f"\n▶ {text}")

    def show(self) -> None:
        """Print what the people saw since the last step."""
        self.stack.settle()
        calls = self.slack.calls()
        shown = self.transcript.render(calls[self.seen :])
        self.seen = len(calls)
        if shown:
            self.out(shown)

    # --- what people do --------------------------------------------------------------------

    def request(self, user: str, role_type: str, answers: dict[str, Any]) -> str | None:
        """``/iam-role TYPE``, fill in the modal, submit; returns the request id, or None if refused."""
        self.step(f"@{PEOPLE[user]} types /iam-role {role_type} and fills in the form")
        since = time.time()
        self.driver.command(user, role_type)
        # the view as Slack holds it (with its id and hash): each form is one submission
        view = self.slack.wait_for("views.open", lambda c: c.at >= since).response["view"]
        self.show()
        typed = ", ".join(
            f"{field}={value if len(str(value)) < 40 else str(value)[:37] + '…'}"
            for field, value in answers.items()
            if field != "justification"
        )
        self.out(f"    (@{PEOPLE[user]} fills in {typed})")
        errors = self.stack.submit_form(user, view, {"account_id": self.aws.account_id, **answers})
        if errors:
            self.out("    [the modal stays open and shows, next to each field:]")
            for field, message in errors.items():
                self.out(f"      {field}: {message}")
            return None
        return self.runtime.store.for_requester(user, limit=1)[0].id

    def click(self, user: str, action: str, request_id: str) -> None:
        record = self.runtime.store.get(request_id)
        assert record is not None
        self.step(f"@{PEOPLE[user]} clicks {action.title()} on {request_id}")
        message = {"ts": record.message_ts, "type": "message"}
        self.driver.click(user, action, request_id, message=message, channel=record.channel)

    def reject(self, user: str, request_id: str, reason: str) -> None:
        since = time.time()
        self.click(user, ids.REJECT, request_id)
        view = self.slack.wait_for(
            "views.open", lambda c: c.at >= since and c.params["view"].get("callback_id") == ids.REJECT_CALLBACK_ID
        )
        self.step(f"@{PEOPLE[user]} gives the reason: “{reason}”")
        self.driver.submit(user, view.params["view"], {"reason": reason})

    # --- the story -------------------------------------------------------------------------

    def run(self) -> None:
        out = self.out
        out("iam-role-bot demo — the real bot against a sandbox: moto as AWS, a local fake Slack.")
        out(f"Approvers: @bob and @dana. AWS account (simulated): {self.aws.account_id}.")

        ec2 = self.request(
            "U0ALICE",
            "service",
            {
                "role_name": "orders-api-ec2",
                "service_principal": "ec2.amazonaws.com",
                "managed_policy_arns": ["arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore"],
                "justification": "EC2 instances of the orders API need Session Manager access.",
            },
        )
        if ec2:
            self.click("U0BOB", ids.APPROVE, ec2)

        gha = self.request(
            "U0CAROL",
            "oidc",
            {
                "role_name": "web-deploy",
                "github_repo": "acme/web",
                "github_ref_type": "branch",
                "github_ref": "main",
                "inline_policy": EXAMPLE_POLICY,
                "justification": "GitHub Actions deploys the web assets from main.",
            },
        )
        if gha:
            self.click("U0CAROL", ids.APPROVE, gha)
            self.click("U0DANA", ids.APPROVE, gha)

        self.request(
            "U0CAROL",
            "oidc",
            {
                "role_name": "any-repo",
                "provider": "token.actions.githubusercontent.com",
                "justification": "Quick test.",
            },
        )

        admin = self.request(
            "U0ALICE",
            "user",
            {
                "role_name": "alice-admin",
                "managed_policy_arns": ["arn:aws:iam::aws:policy/AdministratorAccess"],
                "justification": "Debugging production.",
            },
        )
        if admin:
            self.reject("U0BOB", admin, "Too broad: request read-only access plus the specific actions you need.")

        mfa = self.request(
            "U0ALICE",
            "user",
            {
                "role_name": "support-readonly",
                "require_mfa": True,
                "managed_policy_arns": ["arn:aws:iam::aws:policy/ReadOnlyAccess"],
                "justification": "Support engineers investigate incidents read-only.",
            },
        )
        if mfa:
            self.click("U0DANA", ids.APPROVE, mfa)

        slr = self.request(
            "U0BOB",
            "service-linked",
            {
                "aws_service_name": "autoscaling.amazonaws.com",
                "custom_suffix": "orders",
                "justification": "Auto Scaling for the orders fleet.",
            },
        )
        if slr:
            self.click("U0BOB", ids.APPROVE, slr)
            self.click("U0DANA", ids.APPROVE, slr)
        self.show()
        self.report_roles()

    def report_roles(self) -> None:
        """The roles as AWS (moto) reports them."""
        iam = self.aws.session.client("iam")
        self.out("\nRoles in the sandbox AWS account, as AWS reports them:")
        for role in iam.list_roles()["Roles"]:
            name = role["RoleName"]
            policies = [p["PolicyName"] for p in iam.list_attached_role_policies(RoleName=name)["AttachedPolicies"]]
            inline = iam.list_role_policies(RoleName=name)["PolicyNames"]
            tags = {t["Key"]: t["Value"] for t in iam.list_role_tags(RoleName=name)["Tags"]}
            trusted = [
                principal
                for statement in role["AssumeRolePolicyDocument"]["Statement"]
                for principals in statement["Principal"].values()
                for principal in (principals if isinstance(principals, list) else [principals])
            ]
            self.out(f"  {role['Arn']}")
            self.out(f"      trusted: {', '.join(trusted)}")
            self.out(f"      managed policies: {', '.join(policies) or '-'}   inline: {', '.join(inline) or '-'}")
            if "iam-role-bot:request-id" in tags:
                approvers = " ".join("@" + PEOPLE.get(u, u) for u in tags.get("iam-role-bot:approvers", "").split())
                self.out(
                    f"      tags: request {request_of(tags['iam-role-bot:request-id'])}, requested by "
                    f"@{PEOPLE.get(tags.get('iam-role-bot:requester', ''), '?')}, approved by {approvers}"
                )


def run_demo(out: Callable[[str], None] = print) -> None:
    """Run the whole demo in a throwaway directory and print its transcript."""
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="iam-role-bot-demo-") as workdir:
        demo = Demo(Path(workdir), out)
        try:
            demo.run()
        finally:
            demo.close()
    out(f"\nDemo finished in {time.monotonic() - started:.1f} s. Nothing left this machine.")
