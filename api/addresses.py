"""Mail addresses of the alert rules, checked by a well-kept validator (``email-validator``):
never by ``email.utils``, which has no strict mode on this Python (the CVE-2023-27043 class).

The engine may not import the validator (it stays pure), so this pass runs at the edge, where the
rules bundle loads ``alerts.yaml``, after the engine's shape and meaning passes.
"""

from __future__ import annotations

from rapport.engine.alert_rules import AlertRules
from rapport.engine.errors import Finding
from rapport.engine.validate import Locate
from rapport.engine.yamlsource import format_key


def address_problem(address: str) -> str | None:
    """Why ``address`` is not a mail address to send to (None: it is). No DNS is asked."""
    # Imported on first use: the validator brings dnspython, a tenth of a second that
    # `rapport rules check` of a file without recipients should not pay.
    from email_validator import EmailNotValidError, validate_email  # noqa: PLC0415

    try:
        validate_email(address, check_deliverability=False)
    except EmailNotValidError as error:
        return str(error)
    return None


def address_findings(rules: AlertRules, locate: Locate, path: str) -> list[Finding]:
    """A finding for every recipient of ``rules`` whose ``email`` is not a valid address."""
    findings = []
    for name, recipient in rules.recipients.items():
        problem = address_problem(recipient.email)
        if problem is not None:
            loc = ("recipients", name, "email")
            line, column = locate(loc)
            hint = "write one plain address, like pm@example.com"
            findings.append(Finding(path, line, column, format_key(loc), problem, hint))
    return findings
