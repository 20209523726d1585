"""``bot.sandbox.aws.lighten_moto`` (on in every test process, see conftest): moto serves the same, more cheaply.

moto's records (``iam_backends``) are read directly: no AWS API tells how many backends moto made. If a moto
upgrade moved what ``lighten_moto`` replaces, the replacement would silently do nothing; these tests would fail.
"""

import json

import boto3
from moto import mock_aws
from moto.core import DEFAULT_ACCOUNT_ID
from moto.iam.models import iam_backends

MEMBER = "444455556666"
TRUST_HOME = {
    "Version": "2012-10-17",
    "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{DEFAULT_ACCOUNT_ID}:root"}, "Action": "sts:AssumeRole"}
    ],
}


def test_assumed_credentials_act_in_their_account_and_each_account_gets_one_iam_backend() -> None:
    with mock_aws():
        home = boto3.Session(region_name="us-east-1")
        home.client("iam").create_role(RoleName="in-home", AssumeRolePolicyDocument=json.dumps(TRUST_HOME))
        credentials = home.client("sts").assume_role(
            RoleArn=f"arn:aws:iam::{MEMBER}:role/executor", RoleSessionName="test"
        )["Credentials"]
        member = boto3.Session(
            aws_access_key_id=credentials["AccessKeyId"],
            aws_secret_access_key=credentials["SecretAccessKey"],
            aws_session_token=credentials["SessionToken"],
            region_name="us-east-1",
        )
        assert member.client("sts").get_caller_identity()["Account"] == MEMBER
        member.client("iam").create_role(RoleName="in-member", AssumeRolePolicyDocument=json.dumps(TRUST_HOME))

        assert [role["RoleName"] for role in member.client("iam").list_roles()["Roles"]] == ["in-member"]
        assert [role["RoleName"] for role in home.client("iam").list_roles()["Roles"]] == ["in-home"]
        assert {account: list(backends) for account, backends in iam_backends.items()} == {
            DEFAULT_ACCOUNT_ID: ["aws"],
            MEMBER: ["aws"],
        }
