"""Every built-in collector type, imported so that ``REGISTRY`` knows them all.

Importing a connector module registers its class (``@register``); a name registered twice fails
here, at import, with ``DuplicateCollectorError``. Configuration loading imports this module, so a
``collectors.yaml`` can name any of these types.
"""

from __future__ import annotations

from rapport.signals.collectors import (
    file,
    github,
    http_json,
    imap,
    jira,
    pagerduty,
    pingcode,
    prometheus,
    sql,
    survey_csv,
    zendesk,
)

MODULES = (
    file,
    survey_csv,
    sql,
    prometheus,
    imap,
    http_json,
    zendesk,
    jira,
    github,
    pingcode,
    pagerduty,
)
