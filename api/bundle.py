"""The rules bundle: a whole rules directory, checked and loaded as one immutable value.

``check_bundle(directory)`` is the one rules check: ``rapport rules check``, every CLI command that
scores, ``POST /api/v1/rules/validate``, ``serve``'s start and every live reload call it, so they
cannot disagree. It reads every file kind of ``BUNDLE_FILES`` — the scorecard, the clients
registry, the collectors and the rule tests — and returns either a ``RulesBundle`` and no finding,
or None and every finding of every file, sorted, each ``path:line:col: key: message (hint)``.

A new file kind (alert rules, say) is one more ``BundleFile`` entry and one more ``RulesBundle``
field of the same name.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from difflib import get_close_matches
from pathlib import Path
from typing import Any

from rapport.api.addresses import address_findings
from rapport.api.rule_tests import RuleTestCase, read_rule_test
from rapport.api.rules_version import rules_version
from rapport.engine.alert_rules import ALERTS_FILE, AlertRules, validate_alerts
from rapport.engine.errors import Finding, RulesError
from rapport.engine.loader import (
    MAX_RULES_BYTES,
    SCORECARD_FILE,
    Ruleset,
    check_model_text,
    read_rules_text,
)
from rapport.engine.model import Scorecard
from rapport.engine.validate import Locate
from rapport.engine.yamlsource import format_key, parse_yaml
from rapport.signals.collectors.backfill import kind_windows
from rapport.signals.collectors.config import (
    COLLECTORS_FILE,
    CollectorsConfig,
    check_collectors_text,
)
from rapport.signals.model import Client
from rapport.signals.registry import CLIENTS_FILE, check_clients_text

RULE_TESTS = "tests/*.yaml"


@dataclass(frozen=True)
class RulesBundle:
    """Every file of a rules directory, validated together; never mutated after loading.

    ``scorecard`` is ``scorecard.yaml`` (required); ``clients`` is ``clients.yaml`` and
    ``collectors`` is ``collectors.yaml`` (each None when the file is absent); ``rule_tests`` are
    ``tests/*.yaml`` in name order; ``alerts`` is ``alerts.yaml`` (None when absent). ``version``
    names the directory's content (``api.rules_version``); ``files`` lists every file read, in
    ``BUNDLE_FILES`` order.
    """

    directory: Path
    version: str
    files: tuple[Path, ...]
    scorecard: Scorecard
    clients: tuple[Client, ...] | None = None
    collectors: CollectorsConfig | None = None
    rule_tests: tuple[RuleTestCase, ...] = ()
    alerts: AlertRules | None = None

    @property
    def ruleset(self) -> Ruleset:
        """What the scorer needs of this bundle."""
        return Ruleset(self.scorecard, self.version, self.directory, self.files)


#: The values already loaded, by ``RulesBundle`` field, when a ``BundleFile`` reads its files.
Loaded = Mapping[str, Any]
#: One file (and the largest size a rules file may have, in bytes) → its value, or None and every
#: finding of the file.
ReadFile = Callable[[Path, Loaded, int], tuple[Any | None, list[Finding]]]


@dataclass(frozen=True)
class BundleFile:
    """One kind of file in a rules directory.

    ``pattern`` (a glob relative to the directory) selects its files; ``read`` checks one and
    returns its value or its findings. ``many`` fills the ``field`` with a tuple of every match
    (in name order) instead of the single match. A ``required`` pattern matching nothing is a
    finding. When a field named in ``needs`` did not load, this kind is not checked at all: its
    findings would only echo that file's.
    """

    field: str
    pattern: str
    read: ReadFile
    required: bool = False
    many: bool = False
    needs: tuple[str, ...] = ()


def _text_of(check: Callable[[str, str], tuple[Any | None, list[Finding]]]) -> ReadFile:
    """A ``ReadFile`` from a check of a file's text (``check(text, path)``)."""

    def read(path: Path, loaded: Loaded, max_bytes: int) -> tuple[Any | None, list[Finding]]:
        text, findings = read_rules_text(path, max_bytes)
        if text is None:
            return None, findings
        return check(text, str(path))

    return read


def _check_scorecard(text: str, path: str) -> tuple[Scorecard | None, list[Finding]]:
    return check_model_text(text, path, Scorecard)


def _check_clients(text: str, path: str) -> tuple[tuple[Client, ...] | None, list[Finding]]:
    clients, findings = check_clients_text(text, path)
    return (tuple(clients) if clients is not None else None), findings


def _read_rule_test(
    path: Path, loaded: Loaded, max_bytes: int
) -> tuple[RuleTestCase | None, list[Finding]]:
    return read_rule_test(path, loaded["scorecard"], max_bytes)


def _read_alerts(
    path: Path, loaded: Loaded, max_bytes: int
) -> tuple[AlertRules | None, list[Finding]]:
    text, findings = read_rules_text(path, max_bytes)
    if text is None:
        return None, findings
    scorecard: Scorecard = loaded["scorecard"]

    def meaning(rules: AlertRules, locate: Locate, where: str) -> list[Finding]:
        found = validate_alerts(rules, scorecard, locate, path=where)
        return found + address_findings(rules, locate, where)

    return check_model_text(text, str(path), AlertRules, semantic=meaning)


#: Every file kind of a rules directory, in the order they are read.
BUNDLE_FILES: tuple[BundleFile, ...] = (
    BundleFile("scorecard", SCORECARD_FILE, _text_of(_check_scorecard), required=True),
    BundleFile("clients", CLIENTS_FILE, _text_of(_check_clients)),
    BundleFile("collectors", COLLECTORS_FILE, _text_of(check_collectors_text)),
    # A rule test names the scorecard's components and limits: checked only against a valid one.
    BundleFile("rule_tests", RULE_TESTS, _read_rule_test, many=True, needs=("scorecard",)),
    # Alert rules name the scorecard's components, grades and segments, like rule tests.
    BundleFile("alerts", ALERTS_FILE, _read_alerts, needs=("scorecard",)),
)


def check_bundle(
    directory: str | Path,
    files: tuple[BundleFile, ...] = BUNDLE_FILES,
    *,
    max_bytes: int = MAX_RULES_BYTES,
) -> tuple[RulesBundle | None, list[Finding]]:
    """Check and load every file of ``directory``: the bundle and no finding, or None and every
    finding, sorted by file and position. Never raises for a problem in the rules (a missing
    directory or required file is a finding); the version is taken only when all is valid. A
    file over ``max_bytes`` (``RAPPORT_MAX_RULES_BYTES``) is a finding, found before parsing."""
    root = Path(directory)
    loaded: dict[str, Any] = {}
    findings: list[Finding] = []
    read: list[Path] = []
    for entry in files:
        if any(need not in loaded for need in entry.needs):
            continue
        matches = sorted(p for p in root.glob(entry.pattern) if p.is_file())
        if not matches and entry.required:
            hint = f"a rules directory needs {entry.pattern}"
            findings.append(Finding(str(root / entry.pattern), 1, 1, "", "file not found", hint))
        values, problems = _read_all(entry, matches, loaded, max_bytes)
        findings += problems
        read += matches
        if not problems and (matches or entry.many):
            loaded[entry.field] = tuple(values) if entry.many else values[0]
    findings += undefined_segments(root, loaded)
    if findings:
        return None, sorted(findings)
    if loaded.get("collectors") is not None:  # first runs backfill what the scorecard reads
        loaded["collectors"] = loaded["collectors"].with_backfill(kind_windows(loaded["scorecard"]))
    return RulesBundle(root, rules_version(root), tuple(read), **loaded), []


def undefined_segments(root: Path, loaded: Loaded) -> list[Finding]:
    """A cross-file check: every ``segment`` named in ``clients.yaml`` is defined by the
    scorecard, else a finding at the client's ``segment`` with the closest defined name (an
    undefined segment would silently score the client with the base scorecard). Runs only when
    both files loaded; the clients file is read again for positions (it is small)."""
    scorecard: Scorecard | None = loaded.get("scorecard")
    clients: tuple[Client, ...] | None = loaded.get("clients")
    if scorecard is None or not clients:
        return []
    defined = sorted(scorecard.segments)
    undefined = [
        (i, c.segment) for i, c in enumerate(clients) if c.segment and c.segment not in defined
    ]
    if not undefined:
        return []
    path = root / CLIENTS_FILE
    text, _ = read_rules_text(path)
    locate = parse_yaml(text or "", str(path)).locator.locate
    findings = []
    for i, segment in undefined:
        loc = ("clients", i, "segment")
        close = get_close_matches(segment, defined, n=1, cutoff=0.6)
        listed = ", ".join(repr(name) for name in defined) or "none"
        hint = (
            f"did you mean {close[0]!r}?"
            if close
            else f"defined: {listed}; or add it under `segments:` in {SCORECARD_FILE}"
        )
        message = f"segment {segment!r} is not defined in {SCORECARD_FILE}"
        findings.append(Finding(str(path), *locate(loc), format_key(loc), message, hint))
    return findings


def _read_all(
    entry: BundleFile, paths: list[Path], loaded: Loaded, max_bytes: int
) -> tuple[list[Any], list[Finding]]:
    values: list[Any] = []
    findings: list[Finding] = []
    for path in paths:
        value, problems = entry.read(path, loaded, max_bytes)
        findings += problems
        if value is not None:
            values.append(value)
    return values, findings


def check_rules(directory: str | Path, *, max_bytes: int = MAX_RULES_BYTES) -> list[Finding]:
    """Every finding of ``check_bundle(directory)``; empty means the whole directory loads."""
    return check_bundle(directory, max_bytes=max_bytes)[1]


def load_bundle(directory: str | Path, *, max_bytes: int = MAX_RULES_BYTES) -> RulesBundle:
    """The bundle of ``directory``; raises ``RulesError`` with every finding when any."""
    bundle, findings = check_bundle(directory, max_bytes=max_bytes)
    if bundle is None:
        raise RulesError(findings)
    return bundle
