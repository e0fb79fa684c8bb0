"""Rule tests: small YAML files that pin what the scorecard makes of hand-written signals.

Each ``rules/tests/*.yaml`` file states a few clients, their signals and the scores we expect;
``rapport rules test`` evaluates them with the rules directory's scorecard and prints a diff for
every expectation that does not hold. Change a curve, run the tests, see which clients move.

Format, version 1::

    version: 1
    description: slow replies cost responsiveness points
    as_of: 2026-06-30T00:00:00Z      # the evaluation instant; without a zone it is UTC
    tolerance: 0.05                  # optional, absolute, for every number compared (default 0.01)
    clients:
      - {id: acme, segment: enterprise}          # name optional
    signals:                                     # the signal shapes of the import/push API
      - {client: acme, kind: response_time, ts: -2d, value: 30}
      - {client: acme, kind: milestone, due: -10d, delivered_at: -4d}
      - {client: acme, kind: incident, severity: sev2, opened_at: -36h, resolved_at: -30h}
    expect:
      - client: acme
        score: 62.5            # optional; null means "no score"
        grade: watch           # optional; null means "no grade"
        components:            # optional; a number is the expected points, or a mapping of
          responsiveness: {points: 50, status: ok}   # points, value, status, weight (0..1 share)
          satisfaction: {points: null, status: missing}
        limits: [open_sev1]    # optional; the exact set of caps and floors that applied

Time fields (``ts``, ``due``, ``delivered_at``, ``opened_at``, ``resolved_at``) take ISO 8601, a
bare date for ``due`` (end of that day), or an offset from ``as_of``: ``-2d``, ``-36h``, ``-90m``,
``-1w``, ``+1d``. ``event_id`` is optional (``test:<n>`` by position); as in the store, a repeated
``event_id`` of one client is one signal, the later one winning. Only what an expectation states
is compared.

A malformed file raises ``RulesError`` with every finding of every file as ``path:line:col``;
a failed expectation is reported, with the file and line of its ``expect`` entry::

    FAIL rules/tests/responsiveness.yaml:12 (client acme): slow replies cost points
      score                            expected 62.5  got 58.1
      components.responsiveness.points expected 50    got 41.7
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from rapport.engine.errors import Finding, RulesError
from rapport.engine.frame import ClientSet
from rapport.engine.loader import (
    MAX_RULES_BYTES,
    check_model_text,
    load_scorecard,
    read_rules_text,
)
from rapport.engine.model import Scorecard
from rapport.engine.result import INSUFFICIENT_DATA, ClientScore, StatusName
from rapport.engine.scoring import evaluate
from rapport.engine.validate import Locate
from rapport.engine.yamlsource import Locator, format_key, parse_yaml
from rapport.signals.frames import build_signal_set
from rapport.signals.model import (
    SIGNAL_TAGS,
    TIME_FIELDS,
    ClientId,
    Instant,
    StoredSignal,
    TimeZoneName,
    ZoneLookup,
    parse_signal,
)

TESTS_DIR = "tests"
SCORECARD_FILE = "scorecard.yaml"
RULES_VERSION = "test"
DEFAULT_TOLERANCE = 0.01

_OFFSET = re.compile(r"^\s*([+-])\s*(\d+(?:\.\d+)?)\s*(s|m|h|d|w)\s*$")
_OFFSET_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_TIME_HINT = "use ISO 8601 (2026-06-28T09:00:00Z) or an offset from as_of such as -2d, -36h, +1d"


class _Spec(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class RuleTestClient(_Spec):
    """A client of one rule test; ``segment`` and ``sources`` matter to the score, ``timezone``
    (IANA, as in ``clients.yaml``) to where its bare dates end.

    ``sources`` lists the kinds a fresh collector covers for the client (as ``collectors.yaml``
    would): for those, no events is a measured zero rather than missing data.
    """

    id: ClientId
    name: str | None = None
    segment: str | None = None
    sources: list[str] = Field(default_factory=list)
    timezone: TimeZoneName | None = None


class ComponentExpectation(_Spec):
    """What one component should show; a key left out is not compared, ``null`` means absent."""

    points: float | None = None
    value: float | None = None
    status: StatusName | None = None
    weight: float | None = Field(default=None, ge=0, le=1)


class Expectation(_Spec):
    """What one client's score should be; keys left out are not compared."""

    client: str
    score: float | None = None
    grade: str | None = None
    coverage: float | None = Field(default=None, ge=0, le=1)
    provisional_score: float | None = None
    components: dict[str, float | ComponentExpectation] = Field(default_factory=dict)
    limits: list[str] | None = None


class RuleTestFile(_Spec):
    """One ``rules/tests/*.yaml`` file. Signals stay raw mappings until ``as_of`` is known."""

    version: Literal[1]
    description: str = Field(min_length=1)
    as_of: Instant
    tolerance: float = Field(default=DEFAULT_TOLERANCE, ge=0)
    clients: list[RuleTestClient] = Field(min_length=1)
    signals: list[dict[str, Any]] = Field(default_factory=list)
    expect: list[Expectation] = Field(min_length=1)


# --- the report ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class RuleTestFailure:
    """One expectation that did not hold: where it is written and the rendered diff."""

    path: str
    line: int
    client: str
    description: str
    diff: tuple[str, ...]

    def render(self) -> str:
        head = f"FAIL {self.path}:{self.line} (client {self.client}): {self.description}"
        return "\n".join([head, *self.diff])


@dataclass(frozen=True)
class RuleTestReport:
    """The outcome of a run: one check per ``expect`` entry."""

    files: int
    passed: int
    failed: int
    failures: tuple[RuleTestFailure, ...] = field(default=())

    @property
    def ok(self) -> bool:
        return self.failed == 0

    def render(self) -> str:
        """Every failure's diff, then a one-line summary."""
        if self.files == 0:
            return "no rule tests found"
        noun = "file" if self.files == 1 else "files"
        summary = f"{self.passed} passed, {self.failed} failed ({self.files} {noun})"
        return "\n\n".join([*(f.render() for f in self.failures), summary])


# --- running -------------------------------------------------------------------------------------


def run_rule_tests(rules_dir: Path, scorecard: Scorecard | None = None) -> RuleTestReport:
    """Run ``rules_dir/tests/*.yaml`` (sorted by name) against ``scorecard``.

    ``scorecard`` defaults to ``rules_dir/scorecard.yaml``, loaded and validated. Raises
    ``RulesError`` with the findings of every malformed test file (the scorecard's too); runs
    nothing until all files are well-formed.
    """
    if scorecard is None:
        scorecard = load_scorecard(Path(rules_dir) / SCORECARD_FILE)
    paths = sorted((Path(rules_dir) / TESTS_DIR).glob("*.yaml"))
    cases: list[RuleTestCase] = []
    findings: list[Finding] = []
    for path in paths:
        case, problems = read_rule_test(path, scorecard)
        findings += problems
        if case is not None:
            cases.append(case)
    if findings:
        raise RulesError(findings)
    return run_cases(cases, scorecard)


def run_cases(cases: Iterable[RuleTestCase], scorecard: Scorecard) -> RuleTestReport:
    """Run well-formed test files (e.g. a rules bundle's ``rule_tests``) against ``scorecard``."""
    failures: list[RuleTestFailure] = []
    checks = files = 0
    for case in cases:
        files += 1
        checks += len(case.spec.expect)
        failures += _run_case(case, scorecard)
    return RuleTestReport(files, checks - len(failures), len(failures), tuple(failures))


@dataclass(frozen=True)
class RuleTestCase:
    """A well-formed test file: its model, its signals as stored rows, and its key positions."""

    path: str
    spec: RuleTestFile
    signals: tuple[StoredSignal, ...]
    locator: Locator


def check_rule_test_file(path: Path, scorecard: Scorecard) -> list[Finding]:
    """Every finding in the test file at ``path`` (empty when it is well-formed); runs nothing."""
    return read_rule_test(path, scorecard)[1]


def read_rule_test(
    path: Path, scorecard: Scorecard, max_bytes: int = MAX_RULES_BYTES
) -> tuple[RuleTestCase | None, list[Finding]]:
    """Parse and check one test file: its shape, the names it uses, then its signals.

    Returns the case and no findings, or None and every finding of the file (one naming the
    limit for a file over ``max_bytes``).
    """
    text, findings = read_rules_text(path, max_bytes)
    if text is None:
        return None, findings

    def meaning(spec: RuleTestFile, locate: Locate, where: str) -> list[Finding]:
        issues = _undefined_names(spec, scorecard)
        return [_finding(where, locate, loc, msg, hint) for loc, msg, hint in issues]

    spec, findings = check_model_text(text, str(path), RuleTestFile, semantic=meaning)
    if spec is None:
        return None, findings
    # check_model_text keeps its positions to itself; the signals and the FAIL lines need them.
    locator = parse_yaml(text, str(path)).locator
    signals, problems = _signals(spec, scorecard, locator, str(path))
    if problems:
        return None, problems
    return RuleTestCase(str(path), spec, signals, locator), []


_Loc = tuple[str | int, ...]
_Issue = tuple[_Loc, str, str | None]


def _undefined_names(spec: RuleTestFile, scorecard: Scorecard) -> Iterator[_Issue]:
    """Every name a test file uses that nothing defines: clients, components, grades, limits."""
    seen: set[str] = set()
    for i, client in enumerate(spec.clients):
        if client.id in seen:
            yield ("clients", i, "id"), f"duplicate client {client.id!r}", None
        seen.add(client.id)
    grades = [*(g.name for g in scorecard.grades), INSUFFICIENT_DATA]
    limits = [*(cap.id for cap in scorecard.caps), *(floor.id for floor in scorecard.floors)]
    for i, expected in enumerate(spec.expect):
        if expected.client not in seen:
            yield (
                ("expect", i, "client"),
                f"unknown client {expected.client!r}",
                _listing("clients", seen),
            )
        for cid in expected.components:
            if cid not in scorecard.components:
                hint = _listing("components", scorecard.components)
                yield ("expect", i, "components", cid), f"unknown component {cid!r}", hint
        if expected.grade is not None and expected.grade not in grades:
            yield (
                ("expect", i, "grade"),
                f"unknown grade {expected.grade!r}",
                _listing("grades", grades),
            )
        for k, lid in enumerate(expected.limits or ()):
            if lid not in limits:
                hint = _listing("caps and floors", limits)
                yield ("expect", i, "limits", k), f"unknown cap or floor {lid!r}", hint


def _finding(path: str, locate: Locate, loc: _Loc, message: str, hint: str | None) -> Finding:
    return Finding(path, *locate(loc), format_key(loc), message, hint)


def _listing(what: str, names: Iterable[str]) -> str:
    return f"{what}: {', '.join(sorted(names)) or 'none'}"


def _signals(
    spec: RuleTestFile, scorecard: Scorecard, locator: Locator, path: str
) -> tuple[tuple[StoredSignal, ...], list[Finding]]:
    """The file's signals as stored rows (times resolved against ``as_of``), or findings."""
    clients = {c.id for c in spec.clients}
    zones = {c.id: ZoneInfo(c.timezone or "UTC") for c in spec.clients}
    by_id: dict[tuple[str, str], StoredSignal] = {}  # by (client, event_id), as in the store
    findings: list[Finding] = []
    for i, raw in enumerate(spec.signals):
        issues = list(
            _signal_issues(
                i, raw, as_of=spec.as_of, clients=clients, zones=zones, scorecard=scorecard,
                by_id=by_id,
            )
        )  # fmt: skip
        findings += [_finding(path, locator.locate, loc, msg, hint) for loc, msg, hint in issues]
    return tuple(by_id.values()), findings


def _signal_issues(
    i: int,
    raw: dict[str, Any],
    *,
    as_of: datetime,
    clients: set[str],
    zones: ZoneLookup,
    scorecard: Scorecard,
    by_id: dict[tuple[str, str], StoredSignal],
) -> Iterator[_Issue]:
    """Validate signal ``i``; a valid one is added to ``by_id``, an invalid one yields issues."""
    data = {"event_id": f"test:{i + 1}", **raw}
    for name in TIME_FIELDS:
        offset = _offset(data.get(name))
        if offset is not None:
            data[name] = as_of + offset
    try:
        stored = parse_signal(data).to_stored(zones)
    except ValidationError as error:
        for problem in error.errors(include_url=False):
            loc = tuple(problem["loc"])
            if loc and loc[0] in SIGNAL_TAGS:
                loc = loc[1:]  # the union member pydantic tried is not a key the user wrote
            hint = _TIME_HINT if loc and loc[-1] in TIME_FIELDS else None
            yield ("signals", i, *loc), problem["msg"], hint
        return
    if stored.client not in clients:
        yield (
            ("signals", i, "client"),
            f"unknown client {stored.client!r}",
            _listing("clients", clients),
        )
    elif scorecard.kind_spec(stored.kind) is None:
        hint = "built-in kinds or those declared under the scorecard's signals:"
        yield ("signals", i, "kind"), f"unknown signal kind {stored.kind!r}", hint
    else:
        key = (stored.client, stored.event_id)
        by_id.pop(key, None)  # the later signal wins, in the later position
        by_id[key] = stored


def _offset(value: Any) -> timedelta | None:
    """``"-36h"`` → -36 hours; None for anything that is not an offset (left to the model)."""
    match = _OFFSET.match(value) if isinstance(value, str) else None
    if match is None:
        return None
    seconds = float(match.group(2)) * _OFFSET_UNITS[match.group(3)]
    return timedelta(seconds=-seconds if match.group(1) == "-" else seconds)


def _run_case(case: RuleTestCase, scorecard: Scorecard) -> list[RuleTestFailure]:
    spec = case.spec
    clients = ClientSet.of([c.id for c in spec.clients], [c.segment for c in spec.clients])
    covered: dict[str, list[str]] = {}
    for client in spec.clients:
        for kind in client.sources:
            covered.setdefault(kind, []).append(client.id)
    signals = build_signal_set(clients, case.signals, covered=covered)
    evaluation = evaluate(scorecard, clients, signals, spec.as_of, RULES_VERSION)
    failures = []
    for i, expected in enumerate(spec.expect):
        got = evaluation.record(evaluation.row(expected.client))
        diff = compare(expected, got, spec.tolerance)
        if diff:
            line, _ = case.locator.locate(("expect", i))
            failures.append(
                RuleTestFailure(case.path, line, expected.client, spec.description, diff)
            )
    return failures


# --- comparing -----------------------------------------------------------------------------------

_Row = tuple[str, str, str]  # (key, expected, got)


def compare(expected: Expectation, got: ClientScore, tolerance: float) -> tuple[str, ...]:
    """The diff lines of every stated expectation that ``got`` does not meet (empty: all met)."""
    rows: list[_Row] = []
    stated = expected.model_fields_set
    if "score" in stated and not _close(expected.score, got.score, tolerance):
        rows.append(("score", _show(expected.score), _show(got.score)))
    if "grade" in stated and expected.grade != got.grade:
        rows.append(("grade", _show(expected.grade), _show(got.grade)))
    for key in ("coverage", "provisional_score"):
        want, have = getattr(expected, key), getattr(got, key)
        if key in stated and not _close(want, have, tolerance):
            rows.append((key, _show(want), _show(have)))
    for cid, want in expected.components.items():
        rows += _component_rows(cid, want, got, tolerance)
    if expected.limits is not None:
        applied = sorted(lim.id for lim in got.limits)
        if sorted(set(expected.limits)) != applied:
            rows.append(("limits", _show(sorted(set(expected.limits))), _show(applied)))
    return _layout(rows)


def _component_rows(
    cid: str, want: float | ComponentExpectation, got: ClientScore, tolerance: float
) -> list[_Row]:
    if not isinstance(want, ComponentExpectation):
        want = ComponentExpectation(points=want)
    actual = got.components.get(cid)
    rows: list[_Row] = []
    for name in ("points", "value", "weight", "status"):
        if name not in want.model_fields_set:
            continue
        wanted = getattr(want, name)
        value = getattr(actual, name) if actual is not None else None
        same = wanted == value if name == "status" else _close(wanted, value, tolerance)
        if not same:
            rows.append((f"components.{cid}.{name}", _show(wanted), _show(value)))
    return rows


def _close(wanted: float | None, got: float | None, tolerance: float) -> bool:
    if wanted is None or got is None:
        return wanted is None and got is None
    return math.isclose(wanted, got, rel_tol=0.0, abs_tol=tolerance + 1e-12)


def _show(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, list):
        return "[" + ", ".join(str(v) for v in value) + "]"
    return str(value)


def _layout(rows: list[_Row]) -> tuple[str, ...]:
    """Aligned ``key  expected X  got Y`` lines."""
    key_width = max((len(k) for k, _, _ in rows), default=0)
    want_width = max((len(w) for _, w, _ in rows), default=0)
    return tuple(f"  {k:<{key_width}}  expected {w:<{want_width}}  got {g}" for k, w, g in rows)
