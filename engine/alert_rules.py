"""The alert rules language, version 1: what ``alerts.yaml`` may say, and its meaning pass.

A rule names one condition (``when``) over a client's evaluation — score, drop against its own
history, grade, a component's points, coverage, or a source's staleness — how long it must hold
before firing (``for``), an optional separate ``clear`` condition (hysteresis), how long it keeps
firing once clear (``keep_firing_for``), its severity and labels, and how often it repeats.
Routing adds recipients by severity and segment to the client's owner PM.

Shape is checked here (pydantic, ``extra="forbid"``); meaning — unknown components, grades,
segments, recipients or kinds, a coverage rule without ``min_coverage`` — by ``alert_issues``,
against the scorecard. Addresses are checked at the edge (``api.addresses``), which may use a
mail-address validator the engine must not import.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Literal

from pydantic import Field, model_validator

from rapport.engine.errors import Finding
from rapport.engine.kinds import BUILTIN_KINDS
from rapport.engine.model import Duration, Identifier, Scorecard, Spec
from rapport.engine.validate import Issue, Locate, did_you_mean
from rapport.engine.yamlsource import format_key

ALERTS_FILE = "alerts.yaml"

Severity = Literal["info", "warning", "critical"]
#: The comparison keys of a threshold and whether each holds for a value equal to it.
COMPARISONS = ("below", "at_most", "above", "at_least")


class Comparison(Spec):
    """Exactly one of ``below``, ``at_most``, ``above``, ``at_least`` (a number)."""

    below: float | None = None
    at_most: float | None = None
    above: float | None = None
    at_least: float | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> Comparison:
        written = [k for k in COMPARISONS if getattr(self, k) is not None]
        if len(written) != 1:
            raise ValueError(f"needs exactly one of: {', '.join(COMPARISONS)}")
        return self

    @property
    def op(self) -> str:
        """The comparison key written."""
        return next(k for k in COMPARISONS if getattr(self, k) is not None)

    @property
    def threshold(self) -> float:
        return float(getattr(self, self.op))


class Drop(Comparison):
    """The score then (``within`` before as_of) minus the score now, compared: a fall."""

    within: Duration


class ComponentPoints(Comparison):
    """A component's points compared (``id`` names the scorecard's component)."""

    id: str


class GradeCondition(Spec):
    """The client's grade is ``at_or_worse`` than a grade (scorecard order), or ``better_than``."""

    at_or_worse: str | None = None
    better_than: str | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> GradeCondition:
        if (self.at_or_worse is None) == (self.better_than is None):
            raise ValueError("needs exactly one of: at_or_worse, better_than")
        return self

    @property
    def grade(self) -> str:
        return self.at_or_worse if self.at_or_worse is not None else str(self.better_than)


class Staleness(Spec):
    """The source of signal ``kind`` has not delivered for the client for ``longer_than``."""

    kind: str
    longer_than: Duration


#: The condition keys, one per measure, in the order the docs list them.
CONDITION_KEYS = ("score", "drop", "grade", "component", "coverage", "stale")


class Condition(Spec):
    """Exactly one measure and its comparison.

    ``coverage: lost`` holds while the client's coverage is below the scorecard's
    ``min_coverage``. Score, drop, grade and component conditions never hold for a client graded
    insufficient_data: they are unknown there (that client has its coverage alert instead).
    """

    score: Comparison | None = None
    drop: Drop | None = None
    grade: GradeCondition | None = None
    component: ComponentPoints | None = None
    coverage: Literal["lost"] | None = None
    stale: Staleness | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> Condition:
        written = [k for k in CONDITION_KEYS if getattr(self, k) is not None]
        if len(written) != 1:
            raise ValueError(f"a condition needs exactly one of: {', '.join(CONDITION_KEYS)}")
        return self

    @property
    def measure(self) -> str:
        """The condition key written."""
        return next(k for k in CONDITION_KEYS if getattr(self, k) is not None)


class AlertRule(Spec):
    """One alert rule; see the module docstring. ``repeat_every`` and ``send_resolved`` default
    to the file's ``defaults``."""

    description: str = ""
    when: Condition
    clear: Condition | None = None
    for_: Duration | None = Field(default=None, alias="for")
    keep_firing_for: Duration | None = None
    severity: Severity = "warning"
    labels: dict[Identifier, str] = Field(default_factory=dict)
    repeat_every: Duration | None = None
    send_resolved: bool | None = None


class Recipient(Spec):
    """A named address of the rules (e.g. the account director)."""

    name: str = Field(min_length=1)
    email: str = Field(min_length=3, max_length=254)
    locale: str = "en"


class Route(Spec):
    """Recipients added to a rule's notices by severity and segment (each absent: any)."""

    severity: Severity | None = None
    segment: str | None = None
    to: tuple[str, ...] = Field(min_length=1)


class Defaults(Spec):
    """What a rule does unless it says otherwise. ``repeat_every`` absent: no repeats."""

    repeat_every: Duration | None = None
    send_resolved: bool = True


class AlertRules(Spec):
    """A whole ``alerts.yaml``."""

    version: int
    owner: bool = True  # the client's owner PM receives every notice about their client
    defaults: Defaults = Field(default_factory=Defaults)
    recipients: dict[Identifier, Recipient] = Field(default_factory=dict)
    routes: tuple[Route, ...] = ()
    rules: dict[Identifier, AlertRule] = Field(default_factory=dict)

    def repeat_every(self, rule: AlertRule) -> float | None:
        return rule.repeat_every if rule.repeat_every is not None else self.defaults.repeat_every

    def send_resolved(self, rule: AlertRule) -> bool:
        if rule.send_resolved is not None:
            return rule.send_resolved
        return self.defaults.send_resolved

    def recipients_for(self, rule_id: str, segment: str | None) -> tuple[Recipient, ...]:
        """The rules' recipients of ``rule_id``'s notices for a client of ``segment`` (the owner
        PM, from the registry, comes first and is the caller's to add), in route order, once."""
        severity = self.rules[rule_id].severity
        names: dict[str, None] = {}
        for route in self.routes:
            if route.severity not in (None, severity) or route.segment not in (None, segment):
                continue
            names.update(dict.fromkeys(route.to))
        return tuple(self.recipients[name] for name in names)


NO_ALERTS = AlertRules(version=1)


# --- meaning -----------------------------------------------------------------------------------


def _closest(word: str, candidates: Mapping[str, object] | tuple[str, ...], what: str) -> str:
    names = tuple(candidates)
    close = did_you_mean(word, names)
    known = ", ".join(names) or "none"
    return f"did you mean {close!r}? known {what}: {known}" if close else f"known {what}: {known}"


def _condition_issues(sc: Scorecard, condition: Condition) -> Iterator[Issue]:
    kinds = (*BUILTIN_KINDS, *sc.signals)
    if condition.component is not None and condition.component.id not in sc.components:
        name = condition.component.id
        hint = _closest(name, sc.components, "components")
        yield Issue(("component", "id"), f"unknown component {name!r}", hint)
    if condition.grade is not None:
        names = tuple(g.name for g in sc.grades)
        key = "at_or_worse" if condition.grade.at_or_worse is not None else "better_than"
        if condition.grade.grade not in names:
            hint = _closest(condition.grade.grade, names, "grades")
            yield Issue(("grade", key), f"unknown grade {condition.grade.grade!r}", hint)
    if condition.coverage is not None and sc.min_coverage <= 0:
        hint = "set min_coverage in scorecard.yaml, or remove this rule"
        yield Issue(("coverage",), "the scorecard has no min_coverage to fall below", hint)
    if condition.stale is not None and condition.stale.kind not in kinds:
        hint = _closest(condition.stale.kind, tuple(kinds), "signal kinds")
        yield Issue(("stale", "kind"), f"unknown signal kind {condition.stale.kind!r}", hint)


def _rule_issues(sc: Scorecard, rule: AlertRule) -> Iterator[Issue]:
    yield from (i.under(("when",)) for i in _condition_issues(sc, rule.when))
    if rule.clear is None:
        return
    yield from (i.under(("clear",)) for i in _condition_issues(sc, rule.clear))
    if rule.clear.measure != rule.when.measure:
        message = f"clear measures {rule.clear.measure}, but when measures {rule.when.measure}"
        yield Issue(("clear",), message, "hysteresis clears on the measure that fired")


def alert_issues(rules: AlertRules, sc: Scorecard) -> Iterator[Issue]:
    """Every meaning problem of ``rules`` against the scorecard ``sc``, located from the root."""
    for rule_id, rule in rules.rules.items():
        yield from (i.under(("rules", rule_id)) for i in _rule_issues(sc, rule))
    for index, route in enumerate(rules.routes):
        where: tuple[str | int, ...] = ("routes", index)
        if route.segment is not None and route.segment not in sc.segments:
            hint = _closest(route.segment, sc.segments, "segments")
            yield Issue((*where, "segment"), f"unknown segment {route.segment!r}", hint)
        for position, name in enumerate(route.to):
            if name not in rules.recipients:
                hint = _closest(name, rules.recipients, "recipients")
                yield Issue((*where, "to", position), f"unknown recipient {name!r}", hint)


def validate_alerts(
    rules: AlertRules, sc: Scorecard, locate: Locate, *, path: str = ""
) -> list[Finding]:
    """Every meaning problem of shape-valid ``rules``, as findings at their keys' positions."""
    findings = []
    for issue in alert_issues(rules, sc):
        line, column = locate(issue.loc)
        findings.append(
            Finding(path, line, column, format_key(issue.loc), issue.message, issue.hint)
        )
    return sorted(set(findings))
