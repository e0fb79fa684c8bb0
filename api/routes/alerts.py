"""``/api/v1/alerts`` (pending and firing alerts, the history of notices),
``/api/v1/silences`` (create, list, expire) and ``/api/v1/outbox`` (the notification outbox,
admin scope). An owner-restricted token sees, silences and
unsilences only its own clients' alerts: any other client is a 404, and it may not make a
silence without a client. A silence's author is the token's name."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from rapport.api.auth import Principal, require
from rapport.api.errors import ForbiddenError, NotFoundError, UnprocessableError
from rapport.api.routes import AUTH_ERRORS, errors, service_of
from rapport.api.service import Service
from rapport.engine.alerts import AlertState, AlertTransition, Silence
from rapport.engine.model import parse_duration
from rapport.signals import alerts as stored
from rapport.signals import outbox
from rapport.signals.alerts import NewSilence, UnknownSilenceError

router = APIRouter(prefix="/api/v1", tags=["alerts"])
Reader = Annotated[Principal, Depends(require("read"))]
Admin = Annotated[Principal, Depends(require("admin"))]


class SilenceIn(BaseModel):
    """A silence to create: a client, a rule or labels (at least one), for how long, and why."""

    model_config = ConfigDict(extra="forbid")

    client: str | None = Field(default=None, max_length=200)
    rule: str | None = Field(default=None, max_length=200)
    labels: dict[str, Annotated[str, Field(max_length=200)]] = Field(
        default_factory=dict, max_length=20
    )
    duration: str = Field(max_length=20, description="e.g. 7d, 12h")
    reason: str = Field(min_length=1, max_length=2000)


def _visible(service: Service, principal: Principal, client_id: str) -> bool:
    client = service.store.client(client_id)
    return client is not None and principal.sees(client)


def _silence(s: Silence) -> dict[str, Any]:
    return {
        "id": s.id, "client": s.client, "rule": s.rule, "labels": dict(s.labels),
        "reason": s.reason, "author": s.author, "created": s.created.isoformat(),
        "expires": s.expires.isoformat(),
    }  # fmt: skip


def _state(a: AlertState) -> dict[str, Any]:
    def iso(moment: datetime | None) -> str | None:
        return None if moment is None else moment.isoformat()

    return {
        "rule": a.rule, "client": a.client, "state": a.phase, "episode": a.episode,
        "active_since": a.active_since.isoformat(), "fired_at": iso(a.fired_at),
        "last_notified": iso(a.last_notified), "repeats": a.repeats, "silenced": a.muted,
    }  # fmt: skip


def _transition(t: AlertTransition) -> dict[str, Any]:
    return {
        "rule": t.rule, "client": t.client, "episode": t.episode, "kind": t.kind,
        "at": t.at.isoformat(), "severity": t.severity, "labels": dict(t.labels),
        "value": t.value, "threshold": t.threshold, "silenced": t.silenced,
        "dedupe_key": t.dedupe_key,
    }  # fmt: skip


def _owned(service: Service, principal: Principal, client: str | None) -> bool:
    return principal.owner is None or (client is not None and _visible(service, principal, client))


@router.get("/alerts", responses=errors(*AUTH_ERRORS))
def list_alerts(request: Request, principal: Reader) -> dict[str, Any]:
    """Every pending or firing alert the token may see."""
    service = service_of(request)
    states = [s for s in stored.load_states(service.store) if _owned(service, principal, s.client)]
    return {"alerts": [_state(s) for s in states]}


@router.get("/alerts/history", responses=errors(*AUTH_ERRORS, 404))
def alert_history(
    request: Request,
    principal: Reader,
    client: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
) -> dict[str, Any]:
    """Recorded notices (firing, repeat, resolved), newest first."""
    service = service_of(request)
    if client is not None and not _visible(service, principal, client):
        raise NotFoundError("client", client)
    found = stored.alert_history(service.store, client=client, limit=limit)
    return {"history": [_transition(t) for t in found if _owned(service, principal, t.client)]}


@router.get("/silences", responses=errors(*AUTH_ERRORS))
def list_silences(request: Request, principal: Reader) -> dict[str, Any]:
    """Every silence (active or not) of the token's clients."""
    service = service_of(request)
    found = stored.list_silences(service.store)
    return {"silences": [_silence(s) for s in found if _owned(service, principal, s.client)]}


@router.post("/silences", status_code=201, responses=errors(*AUTH_ERRORS, 404, 422))
def create_silence(request: Request, principal: Admin, body: SilenceIn) -> dict[str, Any]:
    """Silence matching alerts from now for ``duration``; the author is the token's name."""
    service = service_of(request)
    if body.client is not None and not _visible(service, principal, body.client):
        raise NotFoundError("client", body.client)
    if principal.owner is not None and body.client is None:
        raise ForbiddenError(principal.name, "may only silence its own clients (name a client)")
    try:
        seconds = parse_duration(body.duration)
        if seconds > 3650 * 86400:
            raise ValueError("a silence lasts at most 10 years")
        now = service.clock()
        new = NewSilence(body.client, body.rule, dict(body.labels), body.reason, principal.name)
        silence = stored.add_silence(service.store, new, now, now + timedelta(seconds=seconds))
    except ValueError as error:
        raise UnprocessableError(str(error)) from None
    return _silence(silence)


@router.delete("/silences/{silence_id}", responses=errors(*AUTH_ERRORS, 404))
def expire_silence(request: Request, principal: Admin, silence_id: str) -> dict[str, Any]:
    """End a silence now (it stays listed, expired)."""
    service = service_of(request)
    try:
        found = stored.silence_by_id(service.store, silence_id)
        if not _owned(service, principal, found.client):
            raise UnknownSilenceError(silence_id)
        return _silence(stored.expire_silence(service.store, silence_id, service.clock()))
    except UnknownSilenceError:
        raise NotFoundError("silence", silence_id) from None


def _epoch(seconds: float | None) -> str | None:
    return None if seconds is None else datetime.fromtimestamp(seconds, UTC).isoformat()


def _outbox_entry(entry: outbox.OutboxEntry, client: str | None) -> dict[str, Any]:
    return {
        "key": entry.key, "client": client, "channel": entry.channel,
        "recipient": entry.recipient, "state": entry.state, "attempts": entry.attempts,
        "last_error": entry.last_error, "next_attempt": _epoch(entry.next_attempt),
        "created_at": _epoch(entry.created_at), "sent_at": _epoch(entry.sent_at),
        "digest": entry.digest,
    }  # fmt: skip


def _client_of(entry: outbox.OutboxEntry) -> str | None:
    """The client a stored notice is about (its payload is the notifier side's JSON)."""
    try:
        found = json.loads(entry.payload)["notice"]["client_id"]
    except (ValueError, KeyError, TypeError):
        return None
    return found if isinstance(found, str) else None


@router.get("/outbox", responses=errors(*AUTH_ERRORS, 422))
def list_outbox(
    request: Request,
    principal: Admin,
    state: Literal["pending", "sent", "failed"] | None = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
) -> dict[str, Any]:
    """Outbox entries (of ``state``), newest first, with the counts per state; an
    owner-restricted token sees only its own clients' entries (and no counts of others)."""
    service = service_of(request)
    found = [(e, _client_of(e)) for e in outbox.entries(service.store, state, limit=limit)]
    shown = [(e, c) for e, c in found if _owned(service, principal, c)]
    body: dict[str, Any] = {"entries": [_outbox_entry(e, c) for e, c in shown]}
    if principal.owner is None:
        body["counts"] = outbox.counts(service.store)
    return body
