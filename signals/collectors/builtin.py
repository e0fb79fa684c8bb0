"""Every built-in collector type, imported so that ``REGISTRY`` knows them all.

Importing a connector module registers its class (a ``BaseCollector`` subclass declaring a
``name``); a name registered twice fails here, at import, with ``DuplicateCollectorError``.
A new connector adds its module to this list. Configuration loading imports this module, so a
``collectors.yaml`` can name any of these types.
"""

from __future__ import annotations

from rapport.signals.collectors import (  # noqa: F401  (imported to register)
    file,
    github,
    http_json,
    hubspot,
    imap,
    jira,
    pagerduty,
    pingcode,
    prometheus,
    slack,
    sql,
    survey_csv,
    teams,
    worktile,
    zendesk,
)
