"""The one exception hierarchy every Rapport package raises from.

Each subclass builds its own message, so a caller never formats one and a user never sees a
traceback for their own mistake: the CLI and the API catch ``RapportError`` and show ``str(error)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


class RapportError(Exception):
    """Base of every error Rapport raises on purpose."""


@dataclass(frozen=True, order=True)
class Finding:
    """One problem in a rules (or config) file, located 1-based as ``path:line:col``."""

    path: str
    line: int
    column: int
    key: str
    message: str
    hint: str | None = None

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}:{self.column}"
        key = self.key or "<root>"
        hint = f" ({self.hint})" if self.hint else ""
        return f"{where}: {key}: {self.message}{hint}"


class FindingsError(RapportError):
    """A user's input was checked and rejected (rules, rule tests, import rows): a finding, which
    the CLI reports with exit code 1, not an environment failure (exit code 2)."""


class RulesError(FindingsError):
    """A rules directory failed validation; carries every finding, not just the first."""

    def __init__(self, findings: Sequence[Finding]) -> None:
        self.findings = tuple(sorted(findings))
        count = len(self.findings)
        lines = "\n".join(str(f) for f in self.findings)
        super().__init__(f"{count} problem{'s' if count != 1 else ''} in rules:\n{lines}")


class UnknownClientError(RapportError):
    """A client id that the registry does not know."""

    def __init__(self, client_id: str) -> None:
        self.client_id = client_id
        super().__init__(f"No client by the id of {client_id!r} was found")


class ScoringError(RapportError):
    """The scorer met a rule that validation should have refused (an unknown measure, say).

    ``engine.validate`` reports such mistakes with file positions; this error only guards callers
    that hand the scorer an unvalidated scorecard, so they get a named reason, not a KeyError.
    """

    def __init__(self, subject: str, problem: str) -> None:
        self.subject = subject
        self.problem = problem
        super().__init__(f"Cannot score {subject}: {problem} (validate the scorecard first)")
