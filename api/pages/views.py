"""What the pages show, read through the API's own route functions (``api.routes.clients``) with
the viewer's principal, so that a page can never show another number, or another client, than
``/api/v1`` would answer to the same credential."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from fastapi import Request

from rapport.api.alert_measure import measured_texts
from rapport.api.auth import Principal
from rapport.api.pages.i18n import Texts
from rapport.api.routes import clients as api
from rapport.api.routes import service_of
from rapport.api.schemas import ClientDetail, ClientSummary, HistoryPoint
from rapport.api.service import Service
from rapport.engine.alert_rules import AlertRule
from rapport.engine.alerts import AlertTransition, Silence
from rapport.engine.explain import Explanation
from rapport.engine.result import INSUFFICIENT_DATA
from rapport.signals.alerts import alert_history, list_silences

#: The client page's chart reaches this far back from the latest evaluation.
CHART_DAYS = 90
#: The colour of "insufficient data" and of clients not scored yet (not a scorecard grade).
NEUTRAL_COLOR = "#757575"
#: As many clients as any registry holds: the portfolio lists them all on one page.
_EVERY = 10**9


@dataclass(frozen=True)
class GradeGroup:
    """The portfolio's clients of one grade (``name`` None: not scored yet)."""

    name: str | None
    clients: list[ClientSummary]


@dataclass(frozen=True)
class AlertLine:
    """One recent alert transition or silence of a client, as the client page lists it."""

    at: datetime
    kind: str
    rule: str
    detail: str


@dataclass(frozen=True)
class ClientView:
    """Everything the client page shows."""

    detail: ClientDetail
    history: list[HistoryPoint]
    explanation: Explanation
    window: tuple[datetime, datetime]
    alerts: list[AlertLine] = field(default_factory=list)


def grade_colors(service: Service) -> dict[str, str]:
    """Each grade's colour from the serving scorecard, plus the neutral states'."""
    bundle = service.rules.bundle
    colors = {g.name: g.color for g in bundle.scorecard.grades} if bundle is not None else {}
    colors[INSUFFICIENT_DATA] = NEUTRAL_COLOR
    return colors


def portfolio(request: Request, principal: Principal) -> list[GradeGroup]:
    """The clients ``principal`` sees, highest score first, grouped by grade in the scorecard's
    order, then insufficient data, then not yet scored; empty groups are left out."""
    page = api.list_clients(request=request, principal=principal, sort="-score", limit=_EVERY)
    bundle = service_of(request).rules.bundle
    order: list[str | None] = [g.name for g in bundle.scorecard.grades] if bundle else []
    order += [g for g in dict.fromkeys(i.grade for i in page.items) if g not in order]
    last: list[str | None] = [INSUFFICIENT_DATA, None]
    order = [g for g in order if g not in last] + last
    groups = [GradeGroup(g, [i for i in page.items if i.grade == g]) for g in order]
    return [group for group in groups if group.clients]


def client_view(request: Request, principal: Principal, client_id: str, texts: Texts) -> ClientView:
    """One client's page data, its alert lines in ``texts``' language; ``NotFoundError`` when it
    does not exist or is not visible."""
    detail = api.get_client(request, principal, client_id)
    explanation = Explanation.model_validate_json(explanation_json(request, principal, client_id))
    end = detail.as_of or explanation.as_of
    since = end - timedelta(days=CHART_DAYS)
    history = api.client_history(request, principal, client_id, since=since, until=end)
    service = service_of(request)
    alerts = recent_alerts(service, client_id, texts)
    return ClientView(detail, history.points, explanation, (since, end), alerts)


def explanation_json(request: Request, principal: Principal, client_id: str) -> bytes:
    """``GET /api/v1/clients/{id}/explain``'s JSON body, exactly as the API answers it."""
    response = api.explain_client(
        request=request, principal=principal, client_id=client_id, as_of=None, compare=None
    )
    return bytes(response.body)


#: How many alert lines the client page lists.
RECENT_ALERTS = 10


def recent_alerts(service: Service, client_id: str, texts: Texts) -> list[AlertLine]:
    """The client's recent alert transitions and its silences active now, newest first (at most
    ``RECENT_ALERTS``); the page leaves the section out when there are none."""
    store = service.store
    bundle = service.rules.bundle
    rules = bundle.alerts.rules if bundle is not None and bundle.alerts is not None else {}
    names = tuple(g.name for g in bundle.scorecard.grades) if bundle is not None else ()
    lines = [
        AlertLine(t.at, texts(f"kind_{t.kind}"), t.rule, _transition_detail(t, rules, names, texts))
        for t in alert_history(store, client=client_id, limit=RECENT_ALERTS)
    ]
    lines += [
        AlertLine(s.created, texts("kind_silenced"), s.rule or "*", _silence_detail(s))
        for s in list_silences(store, active_at=service.clock())
        if s.client == client_id
    ]
    return sorted(lines, key=lambda line: line.at, reverse=True)[:RECENT_ALERTS]


def _rank_name(rank: float | None, names: tuple[str, ...]) -> str | None:
    if rank is None or not 0 <= rank < len(names) or rank != int(rank):
        return None
    return names[int(rank)]


def _silence_detail(silence: Silence) -> str:
    return f"{silence.reason} ({silence.author}, until {silence.expires:%Y-%m-%d %H:%M} UTC)"


def _transition_detail(
    transition: AlertTransition,
    rules: Mapping[str, AlertRule],
    grade_names: tuple[str, ...],
    texts: Texts,
) -> str:
    """``warning, value 61, threshold 65`` in ``texts``' language, the numbers in what the
    rule's condition measures (plain numbers when the rule is gone; grade ranks named by the
    serving scorecard's ``grade_names``), and whether its notice was held back."""
    rule = rules.get(transition.rule)
    measure = rule.when.measure if rule is not None else None
    value, threshold = measured_texts(
        measure,
        transition.value,
        transition.threshold,
        formats=texts.measure_formats(),
        grades=(
            _rank_name(transition.value, grade_names),
            _rank_name(transition.threshold, grade_names),
        ),
    )
    parts = [transition.severity]
    if value is not None:
        parts.append(texts("alert_value", value=value))
    if threshold is not None:
        parts.append(texts("alert_threshold", threshold=threshold))
    if transition.silenced:
        parts.append(texts("alert_not_sent"))
    return ", ".join(parts)
