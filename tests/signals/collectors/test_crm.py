"""The CRM outcome mapping: which deals are outcomes of which type, declared as data."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from rapport.signals.collectors.crm import OutcomeRule, matches, named_properties, outcome_type

RULES = [
    OutcomeRule(when={"pipeline": "renewals", "dealstage": ["won", "signed"]}, type="renewed"),
    OutcomeRule(when={"pipeline": "renewals", "dealstage": "lost"}, type="churned"),
]


@pytest.mark.parametrize(
    ("properties", "expected"),
    [
        ({"pipeline": "renewals", "dealstage": "signed"}, "renewed"),
        ({"pipeline": "Renewals ", "dealstage": "LOST"}, "churned"),
        ({"pipeline": "renewals", "dealstage": "negotiation"}, None),
        ({"dealstage": "won"}, None),
        ({"pipeline": "renewals", "dealstage": None}, None),
    ],
    ids=[
        "a stage listed among several values should match",
        "values should compare without case or surrounding spaces",
        "a stage no rule names should be no outcome",
        "a deal without a property a rule names should never match it",
        "a null property should never match",
    ],
)
def test_the_first_matching_rule_gives_the_outcome_type(properties, expected):
    assert outcome_type(RULES, properties) == expected


def test_an_empty_when_is_refused_so_a_rule_can_never_match_every_deal():
    with pytest.raises(ValidationError, match="at least 1 item"):
        OutcomeRule(when={}, type="renewed")


def test_a_type_must_be_an_outcome_type_name():
    with pytest.raises(ValidationError, match="should match pattern"):
        OutcomeRule(when={"dealstage": "won"}, type="Renewed!")


def test_the_properties_a_mapping_reads_are_exactly_those_it_names():
    assert named_properties(RULES, {"hs_is_closed": "false"}) == {
        "pipeline",
        "dealstage",
        "hs_is_closed",
    }
    assert matches({"n": "1"}, {"n": 1})  # a number property compares as its text
