"""``rapport rules schema``: every shipped and test rules file is valid against the JSON Schema of
its kind, the bad files that are shape errors are not, and the shipped schemas are current."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema_rs
import pytest
import yaml
from typer.testing import CliRunner

from rapport.api.cli import app
from rapport.api.rules_schema import FILES, render, rules_schema

REPO = Path(__file__).resolve().parents[2]
SHIPPED = REPO / "rules"


class _TextTimes(yaml.SafeLoader):
    """YAML as an editor's language server sees it: timestamps stay strings (as JSON has them)."""


_TextTimes.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def load(path: Path) -> Any:
    return yaml.load(path.read_text(encoding="utf-8"), _TextTimes)


def kind_of(path: Path) -> str:
    if path.parent.name == "tests":
        return "tests"
    name = path.stem
    return name if name in FILES else "scorecard"  # tests/rules/good/minimal.yaml is a scorecard


GOOD = sorted(
    [
        *SHIPPED.glob("*.yaml"),
        *SHIPPED.glob("tests/*.yaml"),
        *(REPO / "tests/rules/good").glob("*.yaml"),
        *(REPO / "tests/api/data/rules").glob("*.yaml"),
    ]
)
#: The bad files whose mistake is one of shape (keys, types, bounds, version): a schema says so.
#: The others are mistakes of meaning (gaps between bands, unknown kinds) no schema can see, or
#: YAML that does not parse.
SHAPE_ERRORS = [
    "bad/min_coverage_above_one.yaml",
    "bad/missing_policy_typo.yaml",
    "bad/missing_version.yaml",
    "bad/several_shape_problems.yaml",
    "bad/shape_error_and_gap_together.yaml",
    "bad/shape_error_does_not_invent_follow_on_errors.yaml",
    "bad/unknown_top_level_key.yaml",
    "bad/unsupported_version.yaml",
    "bad/weight_is_not_a_number.yaml",
    "bad_alerts/condition_shape_problems.yaml",
]


@pytest.mark.parametrize("path", GOOD, ids=lambda p: f"{p.relative_to(REPO)} is valid")
def test_every_good_rules_file_is_valid_against_its_schema(path: Path) -> None:
    validator = jsonschema_rs.validator_for(rules_schema(kind_of(path)))
    errors = [f"{list(e.instance_path)}: {e.message}" for e in validator.iter_errors(load(path))]
    assert errors == []


@pytest.mark.parametrize("name", SHAPE_ERRORS, ids=lambda n: f"{n} fails its schema")
def test_a_shape_error_fails_the_schema(name: str) -> None:
    kind = "alerts" if name.startswith("bad_alerts/") else "scorecard"
    validator = jsonschema_rs.validator_for(rules_schema(kind))
    assert not validator.is_valid(load(REPO / "tests/rules" / name))


@pytest.mark.parametrize("kind", list(FILES))
def test_the_shipped_schemas_are_current(kind: str) -> None:
    shipped = SHIPPED / ".schema" / f"{kind}.json"
    assert shipped.read_text() == render(rules_schema(kind)), "run rapport rules schema --out"


@pytest.mark.parametrize("path", sorted([*SHIPPED.glob("*.yaml"), *SHIPPED.glob("tests/*.yaml")]))
def test_every_shipped_rules_file_names_its_schema_on_its_first_line(path: Path) -> None:
    first = path.read_text().splitlines()[0]
    target = first.removeprefix("# yaml-language-server: $schema=")
    assert target != first
    assert (path.parent / target).resolve() == SHIPPED / ".schema" / f"{kind_of(path)}.json"


def test_the_command_prints_one_kind_or_all() -> None:
    one = CliRunner().invoke(app, ["rules", "schema", "--file", "alerts"])
    assert one.exit_code == 0
    assert json.loads(one.output)["title"] == "Rapport alerts.yaml"
    every = CliRunner().invoke(app, ["rules", "schema"])
    assert sorted(json.loads(every.output)) == sorted(FILES)
    bad = CliRunner().invoke(app, ["rules", "schema", "--file", "scorecards"])
    assert bad.exit_code == 2
    assert "--file must be scorecard, clients, collectors, alerts or tests" in bad.output
