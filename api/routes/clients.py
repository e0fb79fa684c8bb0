"""``/api/v1/clients``: the registry joined with the latest scores, history and explanations.

Scores come from the latest published evaluation (``Snapshot``); so does the registry while no
client was written through this process since, otherwise it is read from the store. A client
registered a moment ago is therefore listed with ``score: null`` until the re-score its
registration triggered has run.
"""

from __future__ import annotations

import math
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import PlainTextResponse, Response

from rapport.api.auth import Principal, require
from rapport.api.errors import ForbiddenError, NotFoundError, UnprocessableError
from rapport.api.owners import client_owner_slug, owner_matches
from rapport.api.pipeline import earlier_scores
from rapport.api.routes import AUTH_ERRORS, errors, service_of
from rapport.api.schemas import (
    ClientDetail,
    ClientPage,
    ClientsBatch,
    ClientSummary,
    ClientWritten,
    HistoryOut,
    HistoryPoint,
    OwnerOut,
    RegistryResult,
)
from rapport.api.service import Service, Snapshot
from rapport.engine.explain import (
    COMPARE_SPANS,
    Explanation,
    compare_cutoff,
    explain,
)
from rapport.engine.explain_text import render_explanation
from rapport.engine.model import parse_duration
from rapport.engine.result import INSUFFICIENT_DATA
from rapport.signals.model import Client

router = APIRouter(prefix="/api/v1", tags=["clients"])

Sort = Literal[
    "id", "-id", "name", "-name", "score", "-score", "delta_7d", "-delta_7d", "delta_30d",
    "-delta_30d",
]  # fmt: skip
Reader = Annotated[Principal, Depends(require("read"))]
Admin = Annotated[Principal, Depends(require("admin"))]


#: Instants the API accepts in queries: wide enough for any history, narrow enough that windows
#: and comparisons (``as_of − 30d``) never leave the range of ``datetime``.
EARLIEST = datetime(1900, 1, 1, tzinfo=UTC)
LATEST = datetime(9000, 1, 1, tzinfo=UTC)


def _as_utc(moment: datetime | None, name: str) -> datetime | None:
    """``moment`` in UTC (naive = UTC); 422 outside [EARLIEST, LATEST)."""
    if moment is None:
        return None
    try:
        utc = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    except OverflowError:
        utc = LATEST if moment.year > 1 else EARLIEST - timedelta(days=1)
    if not EARLIEST <= utc < LATEST:
        raise UnprocessableError(f"{name!r} must be between {EARLIEST:%Y} and {LATEST:%Y}")
    return utc


def _visible_client(service: Service, principal: Principal, client_id: str) -> Client:
    """The registered client, or 404 — also when it exists but this token may not see it."""
    fresh = service.evaluator.fresh_snapshot()
    client = fresh.client(client_id) if fresh is not None else service.store.client(client_id)
    if client is None or not principal.sees(client):
        raise NotFoundError("client", client_id)
    return client


def _registry(service: Service) -> list[Client]:
    fresh = service.evaluator.fresh_snapshot()
    return list(fresh.clients) if fresh is not None else service.store.clients()


def _summary(client: Client, snapshot: Snapshot | None) -> dict[str, Any]:
    owner = None
    if client.owner is not None:
        owner = OwnerOut(
            name=client.owner.name, email=client.owner.email, slug=client_owner_slug(client)
        )
    base: dict[str, Any] = {
        "id": client.id,
        "name": client.name,
        "segment": client.segment,
        "owner": owner,
        "score": None,
        "grade": None,
        "coverage": None,
        "delta_7d": None,
        "delta_30d": None,
        "stale": [],
        "as_of": None,
    }
    row = snapshot.row(client.id) if snapshot is not None else None
    if snapshot is None or row is None:
        return base
    ev = snapshot.evaluation
    score = float(ev.score[row])
    grade = int(ev.grade[row])
    base.update(
        score=None if math.isnan(score) else score,
        grade=INSUFFICIENT_DATA
        if ev.insufficient[row]
        else (ev.grade_names[grade] if grade >= 0 else None),
        coverage=float(ev.coverage[row]),
        delta_7d=snapshot.delta_7d.get(client.id),
        delta_30d=snapshot.delta_30d.get(client.id),
        stale=snapshot.stale_components(row),
        as_of=ev.as_of,
    )
    return base


def _sorted(items: list[dict[str, Any]], sort: str) -> list[dict[str, Any]]:
    field = sort.lstrip("-")
    descending = sort.startswith("-")
    present = [i for i in items if i[field] is not None]
    absent = [i for i in items if i[field] is None]
    present.sort(key=lambda i: (i[field], i["id"]), reverse=descending)
    return present + sorted(absent, key=lambda i: i["id"])


@router.get("/clients", response_model=ClientPage, responses=errors(*AUTH_ERRORS))
def list_clients(
    *,
    request: Request,
    principal: Reader,
    owner: Annotated[str | None, Query(description="owner name slug or email")] = None,
    segment: str | None = None,
    grade: str | None = None,
    sort: Sort = "id",
    offset: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> ClientPage:
    """Clients with their latest score, grade, 7d/30d deltas and stale components."""
    service = service_of(request)
    snapshot = service.evaluator.snapshot
    registry = _registry(service)
    _check_filters(service, registry, segment=segment, grade=grade)
    clients = [c for c in registry if principal.sees(c)]
    if owner is not None:
        clients = [c for c in clients if owner_matches(c, owner)]
    if segment is not None:
        clients = [c for c in clients if c.segment == segment]
    items = [_summary(c, snapshot) for c in clients]
    if grade is not None:
        items = [i for i in items if i["grade"] == grade]
    items = _sorted(items, sort)
    page = items[offset : offset + limit]
    return ClientPage(
        items=[ClientSummary(**i) for i in page],
        total=len(items),
        offset=offset,
        limit=limit,
        as_of=snapshot.evaluation.as_of if snapshot else None,
        rules_version=snapshot.evaluation.rules_version if snapshot else None,
    )


def _check_filters(
    service: Service, registry: list[Client], *, segment: str | None, grade: str | None
) -> None:
    """422 for a ``segment`` or ``grade`` no client could have, naming the valid values, so that
    a typo (``at-risk``, ``enterprize``) is not answered with an empty list. Valid segments are
    the scorecard's and those of registered clients; valid grades are the scorecard's."""
    bundle = service.rules.bundle
    if segment is not None:
        known = set(bundle.scorecard.segments) if bundle is not None else set()
        known |= {c.segment for c in registry if c.segment is not None}
        if segment not in known:
            raise UnprocessableError(_unknown("segment", segment, sorted(known)))
    if grade is not None and bundle is not None:
        grades = [*(g.name for g in bundle.scorecard.grades), INSUFFICIENT_DATA]
        if grade not in grades:
            raise UnprocessableError(_unknown("grade", grade, grades))


def _unknown(name: str, value: str, valid: list[str]) -> str:
    listed = ", ".join(valid) if valid else "none defined"
    return f"unknown {name} {value!r}; valid: {listed}"


@router.get(
    "/clients/{client_id}", response_model=ClientDetail, responses=errors(*AUTH_ERRORS, 404)
)
def get_client(request: Request, principal: Reader, client_id: str) -> ClientDetail:
    """One client: registry entry, score, components, applied caps/floors, newest signals."""
    service = service_of(request)
    client = _visible_client(service, principal, client_id)
    snapshot = service.evaluator.snapshot
    summary = _summary(client, snapshot)
    row = snapshot.row(client_id) if snapshot is not None else None
    record = snapshot.record(row) if snapshot is not None and row is not None else None
    last = snapshot.last_signals_of(client_id) if snapshot is not None else {}
    return ClientDetail(
        **summary,
        attrs=dict(client.attrs),
        rules_version=record.rules_version if record else None,
        components=dict(record.components) if record else {},
        limits=list(record.limits) if record else [],
        covered=list(record.covered) if record else [],
        provisional_score=record.provisional_score if record else None,
        last_signals=last,
    )


@router.get(
    "/clients/{client_id}/history",
    response_model=HistoryOut,
    responses=errors(*AUTH_ERRORS, 404),
)
def client_history(
    request: Request,
    principal: Reader,
    client_id: str,
    since: Annotated[datetime | None, Query(alias="from")] = None,
    until: Annotated[datetime | None, Query(alias="to")] = None,
) -> HistoryOut:
    """Stored scores of one client, oldest first, optionally within [from, to]."""
    service = service_of(request)
    _visible_client(service, principal, client_id)
    since, until = _as_utc(since, "from"), _as_utc(until, "to")
    if since is not None and until is not None and since > until:
        raise UnprocessableError("'from' is after 'to'")
    records = service.store.history(client_id, since=since, until=until)
    return HistoryOut(
        client=client_id,
        points=[
            HistoryPoint(
                as_of=r.as_of,
                score=r.score,
                grade=r.grade,
                coverage=r.coverage,
                rules_version=r.rules_version,
                components={cid: c.points for cid, c in r.components.items()},
            )
            for r in records
        ],
    )


@router.get(
    "/clients/{client_id}/explain",
    response_model=Explanation,
    responses={
        **errors(*AUTH_ERRORS, 404, 503),
        200: {"content": {"text/plain": {"schema": {"type": "string"}}}},
    },
)
def explain_client(
    *,
    request: Request,
    principal: Reader,
    client_id: str,
    as_of: datetime | None = None,
    compare: Annotated[
        str | None,
        Query(
            pattern=r"^\s*\d+(\.\d+)?\s*[smhdw]\s*$",
            description="also compare with the stored score at least this long before (e.g. "
            "1d); `change` holds it (default: the 7d comparison)",
        ),
    ] = None,
    format: Literal["json", "text"] = "json",  # the query parameter's public name
) -> Response:
    """Why the client scores what it does (at ``as_of``, default: the latest evaluation's
    instant), the events behind each component and cap (``evidence``), and what changed against
    its stored scores at least 7 and 30 days earlier (``comparisons``) — and ``compare`` earlier,
    when given. The client is scored on its own, and its score and evidence come from that one
    evaluation's arrays, so they cannot disagree."""
    service = service_of(request)
    client = _visible_client(service, principal, client_id)
    moment = _as_utc(as_of, "as_of")
    spans, chosen = _compared_spans(compare)
    evaluated = service.evaluate_client(client, moment)
    current = evaluated.record()
    try:
        earlier = earlier_scores(service.store, client_id, current.as_of, spans)
    except (ValueError, OverflowError):
        raise UnprocessableError(f"compare {compare!r} is not a usable duration") from None
    explanation = explain(
        current,
        evaluated.scorecard,
        earlier[chosen],
        client.segment,
        earlier=earlier,
        evidence=evaluated.evidence(),
    )
    if format == "text":
        return PlainTextResponse(render_explanation(explanation))
    return Response(explanation.model_dump_json(), media_type="application/json")


def _compared_spans(compare: str | None) -> tuple[list[str], str]:
    """The spans to compare with (7d, 30d, and ``compare`` unless it equals one of them), and
    the one ``change`` reports (``compare``'s, default 7d); 422 for an unusable ``compare``."""
    spans = list(COMPARE_SPANS)
    if compare is None:
        return spans, spans[0]
    try:
        seconds = parse_duration(compare)
        compare_cutoff(EARLIEST, compare)  # a span reaching out of datetime's range is refused
    except (ValueError, OverflowError):
        raise UnprocessableError(f"compare {compare!r} is not a usable duration") from None
    same = next((span for span in spans if parse_duration(span) == seconds), None)
    if same is not None:
        return spans, same
    return [*spans, compare], compare


# --- the registry ----------------------------------------------------------------------------


@router.put(
    "/clients/{client_id}",
    response_model=ClientWritten,
    responses=errors(*AUTH_ERRORS, 404),
)
def put_client(request: Request, principal: Admin, client_id: str, client: Client) -> ClientWritten:
    """Register or update one client (the id in the body must match the path)."""
    if client.id != client_id:
        raise UnprocessableError(
            f"id {client.id!r} in the body differs from {client_id!r} in the path"
        )
    service = service_of(request)
    _check_owner(service, principal, [client])
    result = service.store.upsert_clients([client])
    service.evaluator.registry_changed("registry changed")
    return ClientWritten(client=client, status=result.statuses[0])


@router.put("/clients", response_model=RegistryResult, responses=errors(*AUTH_ERRORS, 404))
def put_clients(
    request: Request,
    principal: Admin,
    batch: ClientsBatch,
    prune: Annotated[
        bool, Query(description="also remove registered clients missing from the body")
    ] = False,
) -> RegistryResult:
    """Register or update many clients at once; with ``prune=true`` the body becomes the registry
    (for an owner-restricted token: that owner's part of it)."""
    ids = [c.id for c in batch.clients]
    repeated = sorted(cid for cid, n in Counter(ids).items() if n > 1)
    if repeated:
        raise UnprocessableError(f"client ids listed more than once: {', '.join(repeated)}")
    service = service_of(request)
    _check_owner(service, principal, batch.clients)
    result = service.store.upsert_clients(batch.clients)
    removed = 0
    if prune:
        among = None
        if principal.owner is not None:
            among = {c.id for c in service.store.clients() if principal.sees(c)}
        removed = service.store.remove_clients_except(set(ids), among)
    service.evaluator.registry_changed("registry changed")
    return RegistryResult(
        inserted=result.inserted,
        updated=result.updated,
        unchanged=result.unchanged,
        removed=removed,
    )


def _check_owner(service: Service, principal: Principal, clients: list[Client]) -> None:
    """An owner-restricted token may only touch, and only assign, its owner's clients."""
    if principal.owner is None:
        return
    for client in clients:
        existing = service.store.client(client.id)
        if existing is not None and not principal.sees(existing):
            raise NotFoundError("client", client.id)
        if not principal.sees(client):
            raise ForbiddenError(
                principal.name,
                f"may only register clients owned by {principal.owner!r} ({client.id!r} is not)",
            )
