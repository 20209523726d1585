"""iam-role-bot: request, review, approve and create AWS IAM roles from Slack."""
