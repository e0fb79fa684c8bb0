"""``POST /api/v1/signals``: push ingest, idempotent by ``(client, event_id)`` and by
``Idempotency-Key``.

Only a body that is not a batch at all (not JSON, no ``signals`` list, 0 or more than
``MAX_SIGNALS_PER_REQUEST`` items) fails the whole request, with a 422. Every item is then judged
on its own; the items taken are committed before the 200 is sent, and each is reported:

- ``accepted``: stored now (``inserted``) or replacing a changed payload (``updated``);
- ``unscored`` (on an accepted item, and the ids listed once at the top level): its client is not
  in the registry, so it is stored but not scored until the client is registered;
- ``duplicates``: already stored with the same payload, or repeated earlier in the same batch;
  ``event_id`` is scoped per client, so an id another client's signal also has is simply a new
  signal of the item's own client: the answer is the one for an id used nowhere else, and a token
  limited to some clients can neither change nor learn of the others' signals;
- ``rejected``, with a reason naming the field where there is one: an invalid item (a string
  where a number belongs, an unknown field, a missing ``ts``, a NUL character in any text), a
  custom kind the scorecard does not declare, a client an owner-restricted token may not write,
  or an ``event_id`` repeated for the same client in the batch with a different payload.

Every item's result is counted in ``rapport_signals_ingested_total{result}``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any, TypedDict

from fastapi import APIRouter, Depends, Header, Request
from fastapi.responses import Response
from pydantic import ValidationError

from rapport.api.auth import Principal, require
from rapport.api.idempotency import IdempotencyKeys, check_key, request_hash
from rapport.api.routes import AUTH_ERRORS, errors, service_of
from rapport.api.schemas import (
    MAX_SIGNALS_PER_REQUEST,
    IngestResult,
    SignalBatch,
    parse_signal_in,
)
from rapport.api.service import Service
from rapport.engine.model import BUILTIN_KINDS, OUTCOME_KIND
from rapport.engine.validate import unknown_outcome_type
from rapport.signals.model import StoredSignal, ZoneLookup, client_zones

router = APIRouter(prefix="/api/v1", tags=["signals"])


@router.post(
    "/signals",
    response_model=IngestResult,
    responses=errors(*AUTH_ERRORS, 400, 409, 413),
    description=f"Store up to {MAX_SIGNALS_PER_REQUEST} signals. A 200 means every accepted item "
    "is committed; each invalid item is listed under `rejected` with its reason. Send an "
    "`Idempotency-Key` header to make retries safe: the same key with the same body replays the "
    "first response; with a different body, or while the first request is still running, it is "
    "a 409 and nothing is written.",
)
def post_signals(
    request: Request,
    principal: Annotated[Principal, Depends(require("ingest"))],
    batch: SignalBatch,
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None,
) -> Response:
    service = service_of(request)
    if idempotency_key is None:
        return _json(_ingest(service, principal, batch).json(), 200)
    check_key(idempotency_key)
    keys: IdempotencyKeys = request.app.state.idempotency
    digest = request_hash(json.dumps(batch.signals, sort_keys=True, separators=(",", ":")))
    # Reserved before anything is written: a concurrent request with the same key gets a 409 (or
    # the first answer, once there is one) and never writes its body too.
    first = keys.reserve(principal.name, idempotency_key, digest)
    if first is not None:
        return _json(first.body, first.status_code, replayed=True)
    try:
        body = _ingest(service, principal, batch).json()
    except BaseException:
        keys.release(principal.name, idempotency_key)
        raise
    keys.complete(principal.name, idempotency_key, 200, body)
    return _json(body, 200)


def _json(body: str, status: int, *, replayed: bool = False) -> Response:
    headers = {"Idempotent-Replayed": "true"} if replayed else None
    return Response(body, status_code=status, media_type="application/json", headers=headers)


class _Item(TypedDict):
    index: int
    event_id: str


class _Accepted(_Item, total=False):
    status: str
    unscored: bool


class _Skipped(_Item):
    reason: str


@dataclass
class _Outcome:
    """Per-item results as plain dicts: a batch has 1,000 of them, and building that many
    pydantic models costs more than the JSON they become (``IngestResult`` documents the shape
    and the API tests check every response against it)."""

    accepted: list[_Accepted] = field(default_factory=list)
    duplicates: list[_Skipped] = field(default_factory=list)
    rejected: list[_Skipped] = field(default_factory=list)
    unscored: list[str] = field(default_factory=list)

    def skip(self, into: list[_Skipped], index: int, event_id: str, reason: str) -> None:
        into.append({"index": index, "event_id": event_id, "reason": reason})

    def json(self) -> str:
        self.duplicates.sort(key=lambda d: d["index"])
        self.rejected.sort(key=lambda d: d["index"])
        body = {
            "accepted": self.accepted,
            "duplicates": self.duplicates,
            "rejected": self.rejected,
            "unscored": self.unscored,
        }
        return json.dumps(body, ensure_ascii=False, separators=(",", ":"))


def _ingest(service: Service, principal: Principal, batch: SignalBatch) -> _Outcome:
    declared = set(BUILTIN_KINDS)
    ruleset = service.rules.bundle
    types = None if ruleset is None else ruleset.scorecard.outcome_types()
    if ruleset is not None:
        declared |= set(ruleset.scorecard.signals)
    zones = client_zones(ruleset.clients or ()) if ruleset is not None else {}  # for bare dates
    visible: dict[str, bool] = {}
    first_seen: dict[tuple[str, str], tuple[int, StoredSignal]] = {}  # by (client, event_id)
    to_store: list[tuple[int, StoredSignal]] = []
    out = _Outcome()
    for index, item in enumerate(batch.signals):
        signal = _parsed(item, zones)
        if isinstance(signal, str):
            out.skip(out.rejected, index, _event_id_of(item), signal)
            continue
        reason = _rejection(service, principal, signal, declared, visible, outcome_types=types)
        identity = (signal.client, signal.event_id)
        earlier = first_seen.get(identity)
        if reason is None and earlier is not None:
            if earlier[1] == signal:
                repeat = f"repeats item {earlier[0]} of this batch"
                out.skip(out.duplicates, index, signal.event_id, repeat)
                continue
            reason = f"same event_id as item {earlier[0]} of this batch but a different payload"
        if reason is not None:
            out.skip(out.rejected, index, signal.event_id, reason)
            continue
        first_seen[identity] = (index, signal)
        to_store.append((index, signal))
    _store(service, to_store, out)
    registered = {c.id for c in ruleset.clients or ()} if ruleset is not None else set()
    _flag_unscored(service, out, {index: s.client for index, s in to_store}, registered)
    _count(service, out)
    if out.accepted:
        service.evaluator.request("signals ingested")
    return out


def _parsed(item: Any, zones: ZoneLookup) -> StoredSignal | str:
    """The item as a stored signal, or why it is rejected: the first field holding a NUL (which
    PostgreSQL cannot store in text, and which no real source means), else what
    ``parse_signal_in`` found wrong, field by field."""
    nul = _nul_field(item, ())
    if nul is not None:
        return f"{_dotted(nul) or 'item'}: text must not contain NUL characters (\\u0000)"
    try:
        return parse_signal_in(item).to_stored(zones)
    except ValidationError as error:
        return _reason(error)


def _nul_field(value: Any, loc: tuple[str | int, ...]) -> tuple[str | int, ...] | None:
    """The location of the first string (or mapping key) in ``value`` that contains a NUL."""
    if isinstance(value, str):
        return loc if "\x00" in value else None
    if isinstance(value, dict):
        for key, inner in value.items():
            if "\x00" in key:
                return (*loc, key)
            found = _nul_field(inner, (*loc, key))
            if found is not None:
                return found
    elif isinstance(value, list):
        for position, inner in enumerate(value):
            found = _nul_field(inner, (*loc, position))
            if found is not None:
                return found
    return None


def _reason(error: ValidationError, shown: int = 5) -> str:
    """``value: Input should be a valid number; …``: each problem at its field."""
    problems = error.errors()
    # loc[0] is the union tag, the model tried for the item's kind, not a key of the data
    parts = [f"{_dotted(p['loc'][1:]) or 'item'}: {p['msg']}" for p in problems[:shown]]
    if len(problems) > shown:
        parts.append(f"… and {len(problems) - shown} more")
    return "; ".join(parts)


def _dotted(loc: Sequence[str | int]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _event_id_of(item: Any) -> str:
    """The item's ``event_id`` when it has a usable one, for the report; else empty."""
    event_id = item.get("event_id") if isinstance(item, dict) else None
    return event_id if isinstance(event_id, str) else ""


def _rejection(
    service: Service,
    principal: Principal,
    signal: StoredSignal,
    declared: set[str],
    visible: dict[str, bool],
    *,
    outcome_types: tuple[str, ...] | None = None,
) -> str | None:
    if signal.kind not in declared:
        known = ", ".join(sorted(declared))
        return (
            f"unknown signal kind {signal.kind!r} "
            f"(declare it under signals: in the scorecard; known: {known})"
        )
    if signal.kind == OUTCOME_KIND and outcome_types is not None:
        problem = unknown_outcome_type(signal.attrs.get("type"), outcome_types)
        if problem is not None:
            return problem
    if principal.owner is not None:
        if signal.client not in visible:
            client = service.store.client(signal.client)
            visible[signal.client] = client is not None and principal.sees(client)
        if not visible[signal.client]:
            return f"No client by the id of {signal.client!r} was found"
    return None


def _store(service: Service, items: list[tuple[int, StoredSignal]], out: _Outcome) -> None:
    """Upsert in one transaction (the store's contract): new or changed items are accepted."""
    if not items:
        return
    result = service.store.upsert_signals([signal for _, signal in items])
    for (index, signal), status in zip(items, result.statuses, strict=True):
        if status == "unchanged":
            out.skip(out.duplicates, index, signal.event_id, "already stored with the same payload")
        else:
            out.accepted.append({"index": index, "event_id": signal.event_id, "status": status})


def _flag_unscored(
    service: Service, out: _Outcome, client_of: dict[int, str], registered: set[str]
) -> None:
    """Mark accepted items of clients in neither ``clients.yaml`` (``registered``) nor the
    store's registry ``unscored``: they are stored, and scored once the client is registered."""
    known: dict[str, bool] = {}
    for item in out.accepted:
        client = client_of[item["index"]]
        if client not in known:
            known[client] = client in registered or service.store.client(client) is not None
        if not known[client]:
            item["unscored"] = True
    out.unscored = sorted(c for c, is_known in known.items() if not is_known)


def _count(service: Service, out: _Outcome) -> None:
    counter = service.metrics.ingested
    inserted = sum(1 for a in out.accepted if a["status"] == "inserted")
    counter.labels("inserted").inc(inserted)
    counter.labels("updated").inc(len(out.accepted) - inserted)
    counter.labels("unchanged").inc(len(out.duplicates))
    counter.labels("rejected").inc(len(out.rejected))
