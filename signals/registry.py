"""The clients registry file (``clients.yaml``) and the whole-directory rules check.

``clients.yaml`` is validated with the same positioned pipeline as the scorecard, so a bad email
or a repeated id is reported as ``path:line:col``. ``check_rules_dir`` runs every file check of a
rules directory and returns all findings at once; a new file kind is one more ``RulesFileCheck``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from rapport.engine.errors import Finding, RulesError
from rapport.engine.loader import SCORECARD_FILE, check_model_text, read_rules_text
from rapport.engine.model import Scorecard
from rapport.engine.validate import Locate
from rapport.engine.yamlsource import format_key
from rapport.signals.model import Client

CLIENTS_FILE = "clients.yaml"


class ClientsFile(BaseModel):
    """A whole ``clients.yaml``: ``version: 1`` and the list of clients."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    version: int
    clients: tuple[Client, ...] = Field(default_factory=tuple)


def _duplicate_ids(registry: ClientsFile, locate: Locate, path: str) -> list[Finding]:
    """Each client id once: a repeated id would silently merge two clients' signals."""
    first: dict[str, int] = {}
    findings = []
    for i, client in enumerate(registry.clients):
        if client.id in first:
            line = locate(("clients", first[client.id], "id"))[0]
            hint = f"first at line {line}; every client needs its own id"
            loc = ("clients", i, "id")
            message = f"duplicate client id {client.id!r}"
            findings.append(Finding(path, *locate(loc), format_key(loc), message, hint))
        else:
            first[client.id] = i
    return findings


def check_clients_text(text: str, path: str) -> tuple[list[Client] | None, list[Finding]]:
    """Validate the text of a clients file: the clients, or None and every finding."""
    registry, findings = check_model_text(text, path, ClientsFile, semantic=_duplicate_ids)
    return (list(registry.clients) if registry is not None else None), findings


def check_clients_file(path: Path) -> list[Finding]:
    """Every finding in the clients file at ``path`` (an empty list when it is valid)."""
    text, findings = read_rules_text(path)
    if text is None:
        return findings
    return check_clients_text(text, str(path))[1]


def load_clients_file(path: str | Path) -> list[Client]:
    """The clients listed in ``path``; raises ``RulesError`` with every finding."""
    text, findings = read_rules_text(Path(path))
    if text is None:
        raise RulesError(findings)
    clients, findings = check_clients_text(text, str(path))
    if clients is None:
        raise RulesError(findings)
    return clients


def check_scorecard_file(path: Path) -> list[Finding]:
    """Every finding in the scorecard at ``path``, shape and meaning."""
    text, findings = read_rules_text(path)
    if text is None:
        return findings
    return check_model_text(text, str(path), Scorecard)[1]


# --- the whole directory --------------------------------------------------------------------------


@dataclass(frozen=True)
class RulesFileCheck:
    """How to check the files of a rules directory matching ``pattern`` (a glob, relative).

    ``check`` receives one matching file's path and returns its findings. A ``required`` pattern
    that matches nothing is itself a finding.
    """

    pattern: str
    check: Callable[[Path], list[Finding]]
    required: bool = False


#: The checks ``check_rules_dir`` runs, in order; extend with collectors.yaml, tests/*.yaml, ….
RULES_FILE_CHECKS: tuple[RulesFileCheck, ...] = (
    RulesFileCheck(SCORECARD_FILE, check_scorecard_file, required=True),
    RulesFileCheck(CLIENTS_FILE, check_clients_file),
)


def check_rules_dir(
    directory: str | Path, checks: tuple[RulesFileCheck, ...] = RULES_FILE_CHECKS
) -> list[Finding]:
    """Every finding in every rules file of ``directory``, sorted by file and position.

    An empty list means the directory can be loaded; a missing directory or a missing required
    file is reported as a finding, never raised.
    """
    root = Path(directory)
    findings: list[Finding] = []
    for entry in checks:
        matches = sorted(p for p in root.glob(entry.pattern) if p.is_file())
        if not matches and entry.required:
            where = root / entry.pattern
            hint = f"a rules directory needs {entry.pattern}"
            findings.append(Finding(str(where), 1, 1, "", "file not found", hint))
        for path in matches:
            findings += entry.check(path)
    return sorted(findings)
