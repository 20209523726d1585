"""The role as code: a CloudFormation template or a Terraform configuration of exactly what the bot created.

Pure: the input is the stored request, its id, the provenance tags the executor put on it and what
AWS answered (``CreatedRole``); the output is text. Both formats are read from the request's plan
(the exact IAM calls the executor made), so the code names the same values AWS was given.
"""

from bot.export.cloudformation import cloudformation_template
from bot.export.role import CreatedRole
from bot.export.terraform import terraform_configuration

FORMATS = {"cloudformation": cloudformation_template, "terraform": terraform_configuration}
"""Each format's renderer, by the name the CLI and the policy file use."""
EXTENSIONS = {"cloudformation": "json", "terraform": "tf"}


def export_role(role: CreatedRole, format: str) -> str:
    """The role in ``format`` (a key of ``FORMATS``)."""
    return FORMATS[format](role)


def file_name(role: CreatedRole, format: str) -> str:
    """E.g. ``app-deployer.cloudformation.json`` (role names are safe in file names)."""
    return f"{role.role_name}.{format}.{EXTENSIONS[format]}"


__all__ = ["EXTENSIONS", "FORMATS", "CreatedRole", "export_role", "file_name"]
