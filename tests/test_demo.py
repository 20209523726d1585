"""``iam-role-bot demo``: the whole story runs and its transcript shows what AWS (moto) holds."""

import contextlib
import io

import pytest

from bot.cli import main


@pytest.fixture(scope="module")
def transcript() -> str:
    """The demo's output, run once through the command-line entry point."""
    output = io.StringIO()
    with contextlib.redirect_stdout(output):
        assert main(["demo"]) == 0
    return output.getvalue()


def test_demo_creates_the_approved_roles_and_reports_them_from_aws(transcript: str) -> None:
    report = transcript.split("Roles in the sandbox AWS account, as AWS reports them:")[1]
    for role in (
        "role/orders-api-ec2",
        "role/web-deploy",
        "role/support-readonly",
        "AWSServiceRoleForAutoScaling_orders",
    ):
        assert role in report
    assert "alice-admin" not in report and "any-repo" not in report
    assert "Demo finished" in transcript


def test_demo_shows_refusals_rejection_and_field_errors(transcript: str) -> None:
    assert "You can't approve your own request" in transcript
    assert "Too broad: request read-only access" in transcript
    assert "any GitHub repository in the world" in transcript
