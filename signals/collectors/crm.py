"""What every CRM connector shares: a small declarative mapping over a deal's properties that says
which deals are outcomes (a won renewal is ``renewed``, a lost one ``churned``) and which are the
open renewals whose close date is a client's next renewal.

A CRM's deals are flat property maps (HubSpot's ``properties``, Salesforce's opportunity fields,
Pipedrive's deal fields), and what differs between CRMs — and between pipelines of one CRM — is
only the names and values: HubSpot's default pipeline calls its stages ``closedwon`` and
``closedlost`` and marks renewals with ``dealtype: existingbusiness``; a renewals pipeline has its
own stage ids. So the mapping is data::

    outcomes:                                   # the first rule that matches gives the type
      - when: {pipeline: renewals, dealstage: [won, signed]}
        type: renewed
      - when: {pipeline: renewals, dealstage: lost}
        type: churned
    renewals: {pipeline: renewals}              # which deals are renewals
    open: {hs_is_closed: "false"}               # which of them are still open

A ``when`` matches when every property it names has the value given (or one of the values of a
list), compared case-insensitively; a property the deal lacks never matches.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

OutcomeType = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,62}$")]
#: property name → the value it must have, or a list of values it may have
Match = dict[str, str | list[str]]


class OutcomeRule(BaseModel):
    """Deals whose properties match ``when`` are outcomes of ``type``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    when: Match = Field(min_length=1)
    type: OutcomeType


def matches(when: Match, properties: Mapping[str, object]) -> bool:
    """Whether every property ``when`` names has (one of) its value(s) in ``properties``."""
    for name, wanted in when.items():
        value = properties.get(name)
        if not isinstance(value, str | int | float) or isinstance(value, bool):
            return False
        allowed = [wanted] if isinstance(wanted, str) else wanted
        if str(value).strip().casefold() not in {a.strip().casefold() for a in allowed}:
            return False
    return True


def outcome_type(rules: Iterable[OutcomeRule], properties: Mapping[str, object]) -> str | None:
    """The type of the first rule matching ``properties``, or None (not an outcome)."""
    return next((rule.type for rule in rules if matches(rule.when, properties)), None)


def named_properties(rules: Iterable[OutcomeRule], *matches_: Match) -> set[str]:
    """Every property a mapping reads (to ask a CRM for exactly those)."""
    names = {name for rule in rules for name in rule.when}
    return names | {name for match in matches_ for name in match}
