"""The clients registry file (``clients.yaml``).

``clients.yaml`` is validated with the same positioned pipeline as the scorecard, so a bad email
or a repeated id is reported as ``path:line:col``. The whole rules directory is checked as one
bundle by ``api.bundle``.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from rapport.engine.errors import Finding, RulesError
from rapport.engine.loader import check_model_text, read_rules_text
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


def load_clients_file(path: str | Path) -> list[Client]:
    """The clients listed in ``path``; raises ``RulesError`` with every finding."""
    text, findings = read_rules_text(Path(path))
    if text is None:
        raise RulesError(findings)
    clients, findings = check_clients_text(text, str(path))
    if clients is None:
        raise RulesError(findings)
    return clients
