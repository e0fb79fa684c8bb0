"""Deterministic, realistic demo data: sixty clients and half a year of their signals.

``demo_clients()`` is the registry shipped as ``rules/clients.yaml``; ``demo_signals()`` invents
every built-in signal kind for them. Most clients are steadily healthy; a few deteriorate, each in
its own way, so that every part of the default scorecard has something to show:

==========================  =======================================================================
``demo_profile``            what its signals look like
==========================  =======================================================================
healthy                     quick replies, milestones on time, good surveys, a few minor incidents
slipping_responsiveness     replies get slower and slower over the last six weeks
slipping_delivery           most milestones of the last 90 days missed: late, or still open past due
falling_satisfaction        NPS drifts down all half-year; CSAT drops over the last quarter
incident_storm              a burst of incidents in the last three weeks, one sev1 still open
sparse                      a handful of replies, the last 12 days ago (carried); one survey
dormant                     old replies only (too old to carry), no recent milestones or surveys
==========================  =======================================================================

Every client but the sparse and dormant ones also talks in a shared chat channel (Slack, Teams):
quick replies there, and — as the chat collectors store silence — an open wait for a question
still unanswered at ``end``; a slipping client's latest chat question always is one.

Every client also has **outcomes** (``_outcomes``), what ``rapport validate`` measures the scores
against: quarterly renewals, each ``renewed`` or ``churned``. A deteriorating or dormant client
churns at a renewal in the last week (nine in ten do; the rest renew after all); a healthy or
sparse one renews, bar a few surprises (one renewal in forty churns). Escalations come with
the trouble: a storm's sev1, a slipping delivery, a falling NPS; a healthy client escalates
rarely. No shipped component reads outcomes, so they change no score.

Determinism: the signals of one client depend only on its id, its ``demo_profile``, ``end``,
``days`` and ``seed`` (a per-client numpy generator seeded from ``seed`` and a SHA-256 of the id,
never Python's salted ``hash()``). Every time is ``end`` minus whole minutes, so nothing is dated
after ``end`` and moving ``end`` shifts the data without changing its shape.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import datetime, timedelta

import numpy as np
import yaml

from rapport.signals.model import Client, Owner, StoredSignal

PROFILES = (
    "healthy",
    "slipping_responsiveness",
    "slipping_delivery",
    "falling_satisfaction",
    "incident_storm",
    "sparse",
    "dormant",
)
#: Profiles whose relationship is getting worse; the default scorecard grades them below healthy.
DETERIORATING = PROFILES[1:5]

_OWNERS = (
    Owner(name="Maya Lindqvist", email="maya.lindqvist@example.com", locale="en"),
    Owner(name="王芳", email="wang.fang@example.com", locale="zh-CN"),
    Owner(name="Daniel Okafor", email="daniel.okafor@example.com", locale="en"),
    Owner(name="Priya Raman", email="priya.raman@example.com", locale="en"),
    Owner(name="陈伟", email="chen.wei@example.com", locale="zh-CN"),
    Owner(name="Tom Becker", email="tom.becker@example.com", locale="en"),
)

# (name, segment, profile); the owner is assigned round-robin in this order.
_E, _M, _S = "enterprise", "midmarket", "smb"
_CLIENTS: tuple[tuple[str, str, str], ...] = (
    ("Northwind Logistics", _E, "healthy"),
    ("Harbor Health Group", _E, "slipping_responsiveness"),
    ("Bluefin Insurance", _M, "healthy"),
    ("Cedar & Stone Architects", _S, "healthy"),
    ("Hangzhou Lianxin Technology", _E, "healthy"),
    ("Orbit Retail", _M, "slipping_delivery"),
    ("Meridian Bank", _E, "healthy"),
    ("Pinecrest Schools", _S, "healthy"),
    ("Quanta Energy", _E, "incident_storm"),
    ("Redwood Media", _M, "healthy"),
    ("Sunrise Dental Clinics", _S, "falling_satisfaction"),
    ("Atlas Freight", _M, "healthy"),
    ("Beacon Pharmaceuticals", _E, "healthy"),
    ("Copperleaf Foods", _M, "healthy"),
    ("Shenzhen Huaxin Electronics", _E, "healthy"),
    ("Driftwood Hotels", _S, "sparse"),
    ("Evergreen Utilities", _E, "healthy"),
    ("Foxglove Fashion", _S, "healthy"),
    ("Granite Construction Co", _M, "healthy"),
    ("Helios Solar", _M, "healthy"),
    ("Ironbridge Manufacturing", _E, "falling_satisfaction"),
    ("Juniper Travel", _S, "healthy"),
    ("Keystone Legal", _M, "healthy"),
    ("Lakeside Veterinary", _S, "healthy"),
    ("Maple Leaf Telecom", _E, "healthy"),
    ("Nimbus Analytics", _M, "healthy"),
    ("Oakridge Property", _M, "dormant"),
    ("Pacific Rim Trading", _M, "healthy"),
    ("Quill Publishing", _S, "healthy"),
    ("Riverbend Credit Union", _M, "healthy"),
    ("Saffron Restaurants", _S, "healthy"),
    ("Tidewater Shipping", _E, "healthy"),
    ("Umbra Security", _M, "incident_storm"),
    ("Vantage Automotive", _E, "healthy"),
    ("Willow Care Homes", _S, "healthy"),
    ("Xiamen Haitong Logistics", _M, "healthy"),
    ("Yellowstone Outfitters", _S, "healthy"),
    ("Zenith Aerospace", _E, "slipping_responsiveness"),
    ("Alder Street Bakery", _S, "healthy"),
    ("Brightpath Education", _M, "healthy"),
    ("Crescent Pharmacy", _S, "healthy"),
    ("Delta Water Services", _M, "slipping_delivery"),
    ("Ember Games", _S, "healthy"),
    ("Fjord Seafood", _M, "healthy"),
    ("Golden Gate Realty", _S, "healthy"),
    ("Highland Distillers", _M, "healthy"),
    ("Indigo Textiles", _S, "slipping_delivery"),
    ("Jade Garden Hospitality", _M, "healthy"),
    ("Kestrel Drones", _S, "healthy"),
    ("Lumen Lighting", _M, "healthy"),
    ("Mosaic Museums", _S, "healthy"),
    ("Nova Biotech", _E, "healthy"),
    ("Olympus Fitness", _S, "healthy"),
    ("Prism Advertising", _M, "healthy"),
    ("Chengdu Tianfu Software", _M, "healthy"),
    ("Rosewood Furniture", _S, "healthy"),
    ("Silverline Rail", _E, "healthy"),
    ("Terra Agritech", _M, "healthy"),
    ("Upland Wineries", _S, "healthy"),
    ("Vertex Consulting", _M, "healthy"),
)


def _slug(name: str) -> str:
    words = "".join(c if c.isalnum() else " " for c in name.lower()).split()
    return "-".join(words)


def demo_clients() -> list[Client]:
    """The sixty demo clients (ids are slugs of their names), each with ``attrs.demo_profile``."""
    return [
        Client(
            id=_slug(name),
            name=name,
            segment=segment,
            owner=_OWNERS[i % len(_OWNERS)],
            attrs={"demo_profile": profile},
        )
        for i, (name, segment, profile) in enumerate(_CLIENTS)
    ]


#: The first line names the file's JSON Schema for editors (``rapport rules schema``, README).
CLIENTS_HEADER = """\
# yaml-language-server: $schema=.schema/clients.json
# Demo clients, generated by signals.demo.demo_clients() - replace them with your own.
# Each client: id (letters, digits, . _ -), name, optional segment (selects the scorecard's
# segment overrides), optional owner (the project manager who receives alerts) and free attrs.
"""


def render_clients_yaml(clients: Sequence[Client]) -> str:
    """A ``clients.yaml`` (``version: 1`` + ``clients:``) listing ``clients``, with a header."""
    body = {
        "version": 1,
        "clients": [c.model_dump(mode="json", exclude_none=True) for c in clients],
    }
    text = yaml.safe_dump(body, allow_unicode=True, sort_keys=False, width=100)
    return CLIENTS_HEADER + text


# --- signals ----------------------------------------------------------------------------------

_MINUTES_PER_DAY = 1440
_REPLY_RATE = {"enterprise": 0.6, "midmarket": 0.4, "smb": 0.25}  # client messages per day
_CHANNELS = ("email", "ticket", "chat", "phone")
_MILESTONES = (
    "Requirements sign-off",
    "Design review",
    "Sprint demo",
    "Data migration",
    "UAT release",
    "Training",
    "Go-live",
    "Hypercare review",
)
_SERVICES = ("api", "portal", "billing", "sso", "reporting")
_SEVERITIES = ("sev1", "sev2", "sev3", "sev4")
_RESOLVE_HOURS = {"sev1": 3.0, "sev2": 4.0, "sev3": 8.0, "sev4": 24.0}  # median time to resolve


class _Emitter:
    """Collects one client's signals, placed in days before ``end`` and numbered per kind."""

    def __init__(self, client: str, end: datetime, days: int) -> None:
        self.client = client
        self.end = end
        self.days = days
        self.signals: list[StoredSignal] = []
        self._numbers: dict[str, int] = {}

    def _moment(self, days_ago: float) -> datetime:
        # Whole minutes keep stored times readable and make the offset exact.
        return self.end - timedelta(minutes=round(days_ago * _MINUTES_PER_DAY))

    def emit(
        self,
        kind: str,
        days_ago: float,
        *,
        done_days_ago: float | None = None,
        value: float | None = None,
        attrs: dict[str, str],
    ) -> None:
        """Record one event ``days_ago`` days before ``end``; an event outside ``days`` is dropped.

        ``done_days_ago`` places its delivery/resolution; one that would fall after ``end`` (a
        negative age) has not happened yet, so the event stays open.
        """
        if not 0 <= days_ago < self.days:
            return
        number = self._numbers.get(kind, 0) + 1
        self._numbers[kind] = number
        done = None if done_days_ago is None or done_days_ago < 0 else self._moment(done_days_ago)
        self.signals.append(
            StoredSignal(
                event_id=f"demo:{self.client}:{kind}:{number}",
                client=self.client,
                kind=kind,
                ts=self._moment(days_ago),
                end=done,
                value=value,
                attrs=attrs,
                source="demo",
                # known as it happened, so that an as-of replay of the demo sees its history
                recorded_at=self._moment(days_ago),
            )
        )


def _client_key(client_id: str) -> int:
    """A stable 64-bit number per client id (Python's ``hash()`` is salted per process)."""
    return int.from_bytes(hashlib.sha256(client_id.encode()).digest()[:8], "big")


def _arrivals(rng: np.random.Generator, per_day: float, days: int) -> list[float]:
    """Ages in days of a Poisson stream of events, oldest first."""
    count = int(rng.poisson(per_day * days))
    return sorted((float(a) for a in rng.uniform(0, days, count)), reverse=True)


def _arrivals_fixed(rng: np.random.Generator, count: int, low: float, high: float) -> list[float]:
    """``count`` ages drawn uniformly between ``low`` and ``high`` days ago, oldest first."""
    return sorted((float(a) for a in rng.uniform(low, high, count)), reverse=True)


def _every(
    rng: np.random.Generator, first: tuple[float, float], step: tuple[float, float], days: int
) -> list[float]:
    """Ages of roughly periodic events: the newest ``first`` days ago, then one every ``step``."""
    ages = [float(rng.uniform(*first))]
    while ages[-1] < days:
        ages.append(ages[-1] + float(rng.uniform(*step)))
    return ages[::-1]


def _response_times(
    em: _Emitter, rng: np.random.Generator, segment: str | None, profile: str
) -> None:
    usual = 1.2 if segment == "enterprise" else 2.0  # median hours to first reply
    if profile == "sparse":  # the last reply 12 days ago: within the 14d carry
        ages = [40.0, 35.0, 25.0, 12.0]
    elif profile == "dormant":  # the last reply 20 days ago: too old to carry
        ages = [60.0, 52.0, 45.0, 38.0, 20.0]
    else:
        ages = _arrivals(rng, _REPLY_RATE.get(segment or "", 0.4), em.days)
    for age in ages:
        median = usual
        if profile == "slipping_responsiveness":
            # From the usual pace six weeks ago to four days per reply today.
            median += (96.0 - usual) * max(0.0, 1.0 - age / 42.0)
        hours = max(0.1, round(median * float(rng.lognormal(0.0, 0.45)), 1))
        channel = str(rng.choice(_CHANNELS, p=[0.45, 0.35, 0.15, 0.05]))
        em.emit("response_time", age, value=hours, attrs={"channel": channel})


#: client messages per day in the shared Slack/Teams channel (on top of the replies above)
_CHAT_RATE = {"enterprise": 0.3, "midmarket": 0.2, "smb": 0.1}


def _chat_replies(
    em: _Emitter, rng: np.random.Generator, segment: str | None, profile: str
) -> None:
    """Reply times in the client's shared chat channel, shaped as the ``slack`` and ``teams``
    collectors store them (``channel: chat``, the channel as ``thread``): quicker than email. A
    question still unanswered at ``end`` after a day or more is an open wait, its value the hours
    waited so far (``open: "true"``); a slipping client's latest one always is."""
    if profile in ("sparse", "dormant"):
        return  # their story is how little we hear from them
    attrs = {"channel": "chat", "thread": f"#{em.client}"}
    slipping = profile == "slipping_responsiveness"
    for age in _arrivals(rng, _CHAT_RATE.get(segment or "", 0.2), em.days):
        median = 0.8 + (48.0 - 0.8) * max(0.0, 1.0 - age / 42.0) if slipping else 0.8
        hours = max(0.1, round(median * float(rng.lognormal(0.0, 0.6)), 1))
        if hours < age * 24:
            em.emit("response_time", age, value=hours, attrs=attrs)
        elif age >= 1:  # no reply yet at the end: open, as the collectors show silence
            waited = round(age * _MINUTES_PER_DAY) / 60
            em.emit("response_time", age, value=waited, attrs={**attrs, "open": "true"})
    if slipping:
        age = round(float(rng.uniform(1.5, 3.0)) * _MINUTES_PER_DAY) / _MINUTES_PER_DAY
        em.emit("response_time", age, value=age * 24, attrs={**attrs, "open": "true"})


def _milestones(em: _Emitter, rng: np.random.Generator, profile: str) -> None:
    if profile == "sparse":
        return
    slipping = profile == "slipping_delivery"
    step = (8.0, 12.0) if slipping else (10.0, 17.0)
    ages = _every(rng, (2.0, 10.0), step, em.days)
    recent = 0
    slips = 0  # a healthy client slips at most once, and by a few days
    for n, age in enumerate(ages):
        if profile == "dormant" and age < 100:
            continue
        attrs = {
            "name": _MILESTONES[n % len(_MILESTONES)],
            "project": f"phase-{1 + n * 3 // len(ages)}",
        }
        if slipping and age <= 90:
            recent += 1
            # Three in four missed: delivered 5-20 days late, or still open past due.
            missed = recent % 4 != 1
        else:
            missed = slips == 0 and age > 5 and rng.random() < 0.05
            slips += missed
        lateness = float(rng.uniform(5, 20) if slipping else rng.uniform(0.5, 3))
        done = age - lateness if missed else age + float(rng.uniform(0, 2))
        em.emit("milestone", age, done_days_ago=done, attrs=attrs)


def _surveys(em: _Emitter, rng: np.random.Generator, profile: str) -> None:
    if profile == "dormant":
        return
    nps = {"scale": "nps", "survey": "relationship-nps"}
    csat = {"scale": "csat", "survey": "ticket-csat"}
    if profile == "sparse":
        em.emit("survey", 100.0, value=8.0, attrs=nps)
        return
    falling = profile == "falling_satisfaction"
    # A falling client answered the relationship survey in the last few days: its latest word.
    first, step = ((1.0, 4.0), (25.0, 35.0)) if falling else ((5.0, 40.0), (35.0, 55.0))
    for age in _every(rng, first, step, em.days):
        if falling:  # from 9-10 half a year ago to about 2 today
            drift = 9.5 - 7.5 * (1.0 - age / 180.0) + float(rng.normal(0.0, 0.5))
            score = float(np.clip(round(drift), 0, 10))
        else:
            score = float(rng.choice([8, 9, 10], p=[0.20, 0.45, 0.35]))
        em.emit("survey", age, value=score, attrs=nps)
    for age in _arrivals(rng, 1 / 20, em.days):
        if falling and age <= 5:
            continue
        if falling and age <= 90:  # CSAT after tickets drops from 5 to 1-2 over the last quarter
            drop = 5.0 - 3.5 * (1.0 - age / 90.0) + float(rng.normal(0.0, 0.4))
            score = float(np.clip(round(drop), 1, 5))
        else:
            score = float(rng.choice([4, 5], p=[0.2, 0.8]))
        em.emit("survey", age, value=score, attrs=csat)


def _incident(
    em: _Emitter, rng: np.random.Generator, age: float, severity: str, *, open_: bool = False
) -> None:
    hours = _RESOLVE_HOURS[severity] * float(rng.lognormal(0.0, 0.6))
    done = None if open_ else age - hours / 24
    service = str(rng.choice(_SERVICES))
    em.emit("incident", age, done_days_ago=done, attrs={"severity": severity, "service": service})


def _incidents(em: _Emitter, rng: np.random.Generator, profile: str) -> None:
    if profile in ("sparse", "dormant"):
        return
    for age in _arrivals(rng, 1 / 30, em.days):
        _incident(em, rng, age, str(rng.choice(_SEVERITIES[1:], p=[0.05, 0.30, 0.65])))
    if profile == "incident_storm":
        storm = ["sev3"] * 5 + ["sev2"] * 4 + ["sev1"]
        for age, severity in zip(_arrivals_fixed(rng, len(storm), 3.0, 21.0), storm, strict=True):
            _incident(em, rng, age, severity)
        _incident(em, rng, float(rng.uniform(0.5, 3.0)), "sev1", open_=True)


_CONTRACT_VALUE = {"enterprise": 30000.0, "midmarket": 12000.0, "smb": 3000.0}  # per quarter
_QUARTER_DAYS = 91.0
#: Days before ``end`` a troubled client's escalation is raised, by profile.
_ESCALATION_AGES = {
    "incident_storm": (1.0, 3.0),
    "slipping_delivery": (10.0, 20.0),
    "falling_satisfaction": (5.0, 15.0),
    "slipping_responsiveness": (3.0, 10.0),
}


def _outcomes(em: _Emitter, rng: np.random.Generator, segment: str | None, profile: str) -> None:
    """Quarterly renewals (the last one churned for most troubled clients) and escalations."""
    troubled = profile in (*DETERIORATING, "dormant")
    # A troubled client's latest renewal falls in the last week: where its scores have fallen.
    newest = float(rng.uniform(0.5, 6.0) if troubled else rng.uniform(0.5, _QUARTER_DAYS))
    value = _CONTRACT_VALUE.get(segment or "", 12000.0)
    ages = [newest + k * _QUARTER_DAYS for k in range(int(em.days // _QUARTER_DAYS) + 1)]
    for n, age in enumerate(sorted(ages, reverse=True)):
        draw = float(rng.random())
        last = age == newest
        churned = draw < 0.9 if troubled and last else draw < 0.025
        kind = "churned" if churned else "renewed"
        em.emit("outcome", age, value=value, attrs={"type": kind, "deal": f"renewal-{n + 1}"})
    if profile in _ESCALATION_AGES:
        em.emit(
            "outcome", float(rng.uniform(*_ESCALATION_AGES[profile])), attrs={"type": "escalated"}
        )
    for age in _arrivals(rng, 1 / 400, em.days):
        em.emit("outcome", age, attrs={"type": "escalated"})


def _profile(client: Client) -> str:
    profile = client.attrs.get("demo_profile")
    return profile if isinstance(profile, str) and profile in PROFILES else "healthy"


def history_instants(end: datetime, *, days: int = 180, daily: int = 30) -> list[datetime]:
    """The instants the demo's score history is replayed at, oldest first, at ``end``'s time of
    day: once a week from (at most a week short of) ``days`` before ``end``, then every day of
    the last ``daily`` days, up to the day before ``end`` (``end`` itself is scored by the
    command that seeds the demo).

    Daily where the 7-day and 30-day deltas look (each has a stored score to compare with),
    weekly before, which shows the half-year's trend at a third of the cost of 180 evaluations.
    Replaying as of each instant reads only the signals dated up to it, so the history is what
    the service would have stored had it run all along."""
    first = daily + (days - daily) // 7 * 7  # weeks that end where the daily points begin
    weekly = [end - timedelta(days=k) for k in range(first, daily, -7)]
    return weekly + [end - timedelta(days=k) for k in range(daily, 0, -1)]


def demo_signals(
    clients: Sequence[Client], *, end: datetime, days: int = 180, seed: int = 7
) -> list[StoredSignal]:
    """Every built-in signal kind (outcomes too) for ``clients`` over the ``days`` days up to
    ``end`` (aware).

    A client's profile is its ``attrs["demo_profile"]`` (``healthy`` when absent or unknown).
    The result is the same list for the same client ids, profiles, ``end``, ``days`` and ``seed``;
    event ids are ``demo:<client>:<kind>:<n>``. Nothing is dated after ``end``.
    """
    if end.tzinfo is None:
        raise ValueError("demo_signals needs a timezone-aware end")
    signals: list[StoredSignal] = []
    for client in clients:
        em = _Emitter(client.id, end, days)
        key = _client_key(client.id)
        # One generator per (client, kind): adding a kind or a client changes no other series.
        rngs = [np.random.default_rng([seed, key, index]) for index in range(6)]
        profile = _profile(client)
        _response_times(em, rngs[0], client.segment, profile)
        _milestones(em, rngs[1], profile)
        _surveys(em, rngs[2], profile)
        _incidents(em, rngs[3], profile)
        _chat_replies(em, rngs[4], client.segment, profile)
        _outcomes(em, rngs[5], client.segment, profile)
        signals.extend(em.signals)
    return signals
