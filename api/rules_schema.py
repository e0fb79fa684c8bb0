"""JSON Schemas of every rules file, from the pydantic models that check them — so an editor
(yaml-language-server, by its ``# yaml-language-server: $schema=…`` line) validates and completes
YAML as people type, with the same keys, types and bounds ``rapport rules check``'s shape pass
enforces. The meaning pass (unknown signal kinds, gaps between bands, …) is not a schema's to say:
a file valid against its schema can still have findings; a shape error is never schema-valid.

``collectors.yaml`` is checked entry by entry against each collector type's settings, so its
schema is built here from the collector registry: every entry is one of the types, chosen by
its ``type``. ``version`` is restricted to the versions the loader supports.

The shipped rules carry ``$schema=.schema/<file>.json`` (``../.schema/tests.json`` for rule
tests): paths relative to the YAML file, inside the rules directory, so the schemas travel with
a rules repository, work offline, and match the Rapport that wrote them (``rapport rules schema
--out rules/.schema`` rewrites them; a test holds the shipped ones current).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from rapport.api.rule_tests import RuleTestFile
from rapport.engine.alert_rules import AlertRules
from rapport.engine.model import SUPPORTED_VERSIONS, Scorecard
from rapport.signals.collectors.base import REGISTRY
from rapport.signals.collectors.config import CollectorsFile, entry_model
from rapport.signals.registry import ClientsFile

DIALECT = "https://json-schema.org/draft/2020-12/schema"

#: Each rules file kind, its model, and the file (pattern) it describes.
FILES: Mapping[str, tuple[type[BaseModel], str]] = {
    "scorecard": (Scorecard, "scorecard.yaml"),
    "clients": (ClientsFile, "clients.yaml"),
    "collectors": (CollectorsFile, "collectors.yaml"),
    "alerts": (AlertRules, "alerts.yaml"),
    "tests": (RuleTestFile, "tests/*.yaml"),
}


def rules_schema(kind: str) -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of one rules file kind of ``FILES``."""
    model, pattern = FILES[kind]
    schema = _collectors_schema() if kind == "collectors" else model.model_json_schema()
    schema["properties"]["version"] = {
        "enum": list(SUPPORTED_VERSIONS),
        "description": "the rules format version; start the file with `version: 1`",
    }
    return {**schema, "$schema": DIALECT, "title": f"Rapport {pattern}"}


def all_schemas() -> dict[str, dict[str, Any]]:
    """Every kind's schema, by kind."""
    return {kind: rules_schema(kind) for kind in FILES}


def _collectors_schema() -> dict[str, Any]:
    """``CollectorsFile`` with each entry one of the registered types' entry models."""
    mode: Literal["validation"] = "validation"
    models = [(entry_model(name, cls.Config), mode) for name, cls in sorted(REGISTRY.items())]
    refs, defs = models_json_schema(models, ref_template="#/$defs/{model}")
    entries = []
    for key, name in zip(models, sorted(REGISTRY), strict=True):
        ref = refs[key]["$ref"].rsplit("/", 1)[-1]
        entry = defs["$defs"][ref]
        entry.setdefault("properties", {})["type"] = {"const": name}
        if "type" not in entry.setdefault("required", []):
            entry["required"].append("type")
        entries.append({"$ref": f"#/$defs/{ref}"})
    schema = CollectorsFile.model_json_schema()
    schema["properties"]["collectors"] = {
        "anyOf": [{"type": "object", "additionalProperties": {"oneOf": entries}}, {"type": "null"}]
    }
    schema["$defs"] = defs["$defs"]
    return schema


def write_schemas(directory: Path) -> list[Path]:
    """Write ``<kind>.json`` for every kind into ``directory``; the paths written."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for kind, schema in all_schemas().items():
        path = directory / f"{kind}.json"
        path.write_text(render(schema), encoding="utf-8")
        written.append(path)
    return written


def render(schema: Mapping[str, Any]) -> str:
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"
