"""``POST /api/v1/signals``: push ingest, idempotent by ``event_id`` and by ``Idempotency-Key``.

Shape errors (a string where a number belongs, an unknown field, a missing ``ts``) reject the whole
request with a 422 naming every bad item. Items that are well-formed but cannot be taken are listed
under ``rejected`` with a reason; the rest are committed before the 200 is sent:

- ``accepted``: stored now (``inserted``) or replacing a changed payload (``updated``);
- ``duplicates``: already stored with the same payload, or repeated earlier in the same batch;
- ``rejected``: a custom kind the scorecard does not declare, a client an owner-restricted token
  may not write, or an ``event_id`` repeated in the batch with a different payload.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Annotated, TypedDict

from fastapi import APIRouter, Depends, Header, Request
from fastapi.responses import Response

from rapport.api.auth import Principal, require
from rapport.api.idempotency import IdempotencyKeys, check_key, request_hash
from rapport.api.routes import AUTH_ERRORS, errors, service_of
from rapport.api.schemas import MAX_SIGNALS_PER_REQUEST, IngestResult, SignalBatch
from rapport.api.service import Service
from rapport.engine.model import BUILTIN_KINDS
from rapport.signals.model import StoredSignal, client_zones

router = APIRouter(prefix="/api/v1", tags=["signals"])


@router.post(
    "/signals",
    response_model=IngestResult,
    responses=errors(*AUTH_ERRORS, 400, 409, 413),
    description=f"Store up to {MAX_SIGNALS_PER_REQUEST} signals. A 200 means every accepted item "
    "is committed. Send an `Idempotency-Key` header to make retries safe: the same key with the "
    "same body replays the first response, with a different body it is a 409.",
)
def post_signals(
    request: Request,
    principal: Annotated[Principal, Depends(require("ingest"))],
    batch: SignalBatch,
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None,
) -> Response:
    service = service_of(request)
    keys: IdempotencyKeys = request.app.state.idempotency
    digest = ""
    if idempotency_key is not None:
        check_key(idempotency_key)
        digest = request_hash(batch.model_dump_json())
        first = keys.replay(principal.name, idempotency_key, digest)
        if first is not None:
            return _json(first.body, first.status_code, replayed=True)
    body = _ingest(service, principal, batch).json()
    if idempotency_key is not None:
        first = keys.remember(principal.name, idempotency_key, digest, 200, body)
        if first is not None:  # a concurrent retry with the same key got there first
            return _json(first.body, first.status_code, replayed=True)
    return _json(body, 200)


def _json(body: str, status: int, *, replayed: bool = False) -> Response:
    headers = {"Idempotent-Replayed": "true"} if replayed else None
    return Response(body, status_code=status, media_type="application/json", headers=headers)


class _Item(TypedDict):
    index: int
    event_id: str


class _Accepted(_Item):
    status: str


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

    def skip(self, into: list[_Skipped], index: int, event_id: str, reason: str) -> None:
        into.append({"index": index, "event_id": event_id, "reason": reason})

    def json(self) -> str:
        self.duplicates.sort(key=lambda d: d["index"])
        body = {"accepted": self.accepted, "duplicates": self.duplicates, "rejected": self.rejected}
        return json.dumps(body, ensure_ascii=False, separators=(",", ":"))


def _ingest(service: Service, principal: Principal, batch: SignalBatch) -> _Outcome:
    declared = set(BUILTIN_KINDS)
    ruleset = service.rules.bundle
    if ruleset is not None:
        declared |= set(ruleset.scorecard.signals)
    zones = client_zones(ruleset.clients or ()) if ruleset is not None else {}  # for bare dates
    visible: dict[str, bool] = {}
    first_seen: dict[str, tuple[int, StoredSignal]] = {}
    to_store: list[tuple[int, StoredSignal]] = []
    out = _Outcome()
    for index, item in enumerate(batch.signals):
        signal = item.to_stored(zones)
        reason = _rejection(service, principal, signal, declared, visible)
        earlier = first_seen.get(signal.event_id)
        if reason is None and earlier is not None:
            if earlier[1] == signal:
                repeat = f"repeats item {earlier[0]} of this batch"
                out.skip(out.duplicates, index, signal.event_id, repeat)
                continue
            reason = f"same event_id as item {earlier[0]} of this batch but a different payload"
        if reason is not None:
            out.skip(out.rejected, index, signal.event_id, reason)
            continue
        first_seen[signal.event_id] = (index, signal)
        to_store.append((index, signal))
    _store(service, to_store, out)
    _count(service, out)
    if out.accepted:
        service.evaluator.request("signals ingested")
    return out


def _rejection(
    service: Service,
    principal: Principal,
    signal: StoredSignal,
    declared: set[str],
    visible: dict[str, bool],
) -> str | None:
    if signal.kind not in declared:
        known = ", ".join(sorted(declared))
        return (
            f"unknown signal kind {signal.kind!r} "
            f"(declare it under signals: in the scorecard; known: {known})"
        )
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


def _count(service: Service, out: _Outcome) -> None:
    counter = service.metrics.ingested
    inserted = sum(1 for a in out.accepted if a["status"] == "inserted")
    counter.labels("inserted").inc(inserted)
    counter.labels("updated").inc(len(out.accepted) - inserted)
    counter.labels("unchanged").inc(len(out.duplicates))
    counter.labels("rejected").inc(len(out.rejected))
