"""Every id Slack routes by, shared by ``blocks/`` (which puts them on buttons, selects and modals) and
``bot/listeners`` (which register for them): a renamed id can't leave a button without a listener.

A form input's ``block_id`` and ``action_id`` are the request model's field name (``blocks.modals``);
the ones named here are those a listener also needs.
"""

# buttons: the value is the request id (the New request button's is "new")
APPROVE = "approve"
REJECT = "reject"
RETRY = "retry"
CANCEL = "cancel"
OPEN_REQUEST_FORM = "open_request_modal"
EXTEND_ROLE = "extend_role"
"""In the expiry reminder; the value is the id of the request that created the role."""
EDIT_ROLE = "edit_role"
"""In App Home's Your roles; the value is the id of the request that created the role."""
DELETE_ROLE = "delete_role"
"""In the expiry reminder and App Home's Your roles; the value is the id of the request that created the role."""

# the request form
REQUEST_CALLBACK_ID = "role_request"
ROLE_TYPE = "role_type"
"""The role-type select: choosing a type redraws the form (``dispatch_action``)."""
ACCOUNT = "account_id"
"""The target account select; options loads read it to know whose catalogue to search."""
MANAGED_POLICIES = "managed_policy_arns"
SERVICE = "service_principal"
LINKED_SERVICE = "aws_service_name"
SAML_PROVIDER = "provider_arn"
OIDC_PROVIDER = "provider"
CHECKING_CALLBACK_ID = "role_request_checking"
"""The view a submitted form shows while the bot asks AWS about it (no inputs, so never submitted)."""
FORM_DONE_CALLBACK_ID = "role_request_done"
"""The view that replaces a "checking" view with the form's outcome (no inputs)."""
FIELD_ERROR_PREFIX = "error:"
"""Block id prefix of the context block that shows a field's error under it in a redrawn form."""

# the rejection form
REJECT_CALLBACK_ID = "reject_request"
REASON = "reason"

# a drift report's buttons: the value is the report's id (D-…)
ACCEPT_DRIFT = "accept_drift"
RESTORE_DRIFT = "restore_drift"
