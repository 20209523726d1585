"""Block Kit for iam-role-bot: pure functions from plain data (``blocks.cards``) to Slack dicts.

``modals`` builds the request and rejection forms and reads them back, ``messages`` the approval
message, thread replies and DMs, ``home`` the App Home tab, ``options`` options-load responses, and
``limits`` checks any of them against Slack's documented limits. Nothing here does I/O.
"""
