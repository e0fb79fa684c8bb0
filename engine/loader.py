"""Rules files → validated models, with every problem reported at its ``path:line:col``.

One pipeline for every rules file: parse the YAML keeping positions (``engine.yamlsource``), check
``version`` first, validate the shape with pydantic and translate each error to the key the user
wrote, then run the model's meaning pass (``engine.validate`` for a scorecard). All findings of a
file come back together; ``load_*`` functions raise them as one ``RulesError``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from rapport.engine.errors import Finding, RulesError
from rapport.engine.model import SUPPORTED_VERSIONS, Scorecard
from rapport.engine.shape_errors import is_section, translate_errors, unreadable_parts, without
from rapport.engine.validate import Locate, validate_scorecard
from rapport.engine.yamlsource import MAX_RULES_BYTES as MAX_RULES_BYTES  # noqa: PLC0414
from rapport.engine.yamlsource import Locator, format_key, parse_yaml

M = TypeVar("M", bound=BaseModel)

#: A model's meaning pass: (validated model, locate, file path) → findings.
SemanticCheck = Callable[[Any, Locate, str], list[Finding]]


def _scorecard_meaning(sc: Scorecard, locate: Locate, path: str) -> list[Finding]:
    return validate_scorecard(sc, locate, path=path)


#: The meaning pass run after shape validation, by model class (subclasses included).
SEMANTIC_CHECKS: dict[type[BaseModel], SemanticCheck] = {Scorecard: _scorecard_meaning}

_VERSION_HINT = "start the file with `version: 1`"


def _yaml_text(value: Any) -> str:
    """A scalar as YAML spells it: true, null, 2, 'text'."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return "null" if value is None else repr(value)


def _check_version(data: Any, locator: Locator, path: str) -> Finding | None:
    """``version`` is read before anything else: a file of another version is not guessed at."""
    if data is None or (isinstance(data, dict) and "version" not in data):
        return Finding(path, *locator.locate(()), "version", "missing", _VERSION_HINT)
    if not isinstance(data, dict):
        kind = "a list" if isinstance(data, list) else "a single value"
        message = f"the file holds {kind}; expected a mapping of keys"
        return Finding(path, *locator.locate(()), "", message, _VERSION_HINT)
    version = data["version"]
    if isinstance(version, bool) or version not in SUPPORTED_VERSIONS:
        shown = _yaml_text(version)
        supported = ", ".join(str(v) for v in SUPPORTED_VERSIONS)
        line, column = locator.locate(("version",))
        message = f"unsupported version {shown}"
        return Finding(path, line, column, "version", message, f"supported: {supported}")
    return None


def _explained(key: str, unreadable: frozenset[str]) -> bool:
    """Whether a shape error at ``key`` follows from a value YAML reading already reported."""
    return any(key == bad or key.startswith((f"{bad}.", f"{bad}[")) for bad in unreadable)


def _semantic_check(model: type[BaseModel]) -> SemanticCheck | None:
    for cls in model.__mro__:
        if cls in SEMANTIC_CHECKS:
            return SEMANTIC_CHECKS[cls]
    return None


def check_model_text(
    text: str,
    path: str,
    model: type[M],
    *,
    semantic: Callable[[M, Locate, str], list[Finding]] | None = None,
) -> tuple[M | None, list[Finding]]:
    """Validate ``text`` (the content of the file ``path``) as ``model``.

    Returns the model and no findings, or None and every finding, sorted by position. The meaning
    pass is ``semantic`` when given, else the one registered for ``model`` in ``SEMANTIC_CHECKS``;
    it runs only when the shape is valid.
    """
    parsed = parse_yaml(text, path)
    findings = list(parsed.findings)
    if not parsed.readable:
        return None, findings
    version_problem = _check_version(parsed.data, parsed.locator, path)
    if version_problem is not None:
        if _explained(version_problem.key, parsed.unreadable_values):
            return None, sorted(findings)  # the value's own finding says what is wrong
        return None, sorted([*findings, version_problem])
    try:
        instance = model.model_validate(parsed.data)
    except ValidationError as error:
        errors = error.errors(include_url=False)
        translated = translate_errors(errors, parsed.data, model, parsed.locator, path)
        findings += [f for f in translated if not _explained(f.key, parsed.unreadable_values)]
        if semantic is None:
            findings += _meaning_of_the_rest(parsed.data, errors, model, parsed.locator, path)
        return None, sorted(set(findings))
    check = semantic or _semantic_check(model)
    if check is not None:
        findings += check(instance, parsed.locator.locate, path)
    findings = sorted(set(findings))
    return (None if findings else instance), findings


#: Shape errors can uncover more shape errors in what is left; a few rounds reach the readable part.
_PRUNING_ROUNDS = 8


def _meaning_of_the_rest(
    data: Any, errors: list[Any], model: type[BaseModel], locator: Locator, path: str
) -> list[Finding]:
    """The registered meaning findings of the part of ``data`` that has a valid shape.

    The parts with shape errors are left out (see ``shape_errors.unreadable_parts``) until the
    rest validates; findings that only follow from leaving them out are dropped (see
    ``_follows_from``). Nothing when no readable part validates or no meaning pass is registered.
    """
    check = _semantic_check(model)
    if check is None:
        return []
    dropped: set[tuple[str | int, ...]] = set()
    for _ in range(_PRUNING_ROUNDS):
        parts = unreadable_parts(errors, data, model)
        if () in parts or not parts:
            return []
        # Pruning leaves out keys and whole lists, never single items, so no index shifts: a path
        # into the pruned data is a path into the file.
        dropped |= parts
        data = without(data, parts)
        try:
            instance = model.model_validate(data)
        except ValidationError as error:
            errors = error.errors(include_url=False)
            continue
        found = check(instance, locator.locate, path)
        return [f for f in found if not _follows_from(f, dropped, model)]
    return []


def _follows_from(
    finding: Finding, dropped: set[tuple[str | int, ...]], model: type[BaseModel]
) -> bool:
    """Whether ``finding`` may be an effect of leaving ``dropped`` out rather than a mistake.

    At, inside or around a dropped part (``every component has weight 0`` once components were
    left out); naming a dropped entry (``unknown component 'delivery'`` when ``delivery`` was
    left out); or, when part of a top-level section with defaults was left out (``scale``),
    mentioning that section (``outside the scale``).
    """
    for part in dropped:
        key = format_key(part)
        if finding.key == key or finding.key.startswith((f"{key}.", f"{key}[")):
            return True
        if key.startswith((f"{finding.key}.", f"{finding.key}[")) or not finding.key:
            return True
        if len(part) == 2 and isinstance(part[1], str) and repr(part[1]) in finding.message:
            return True
        top = str(part[0])
        if is_section(model, top) and top in f"{finding.message} {finding.hint or ''}":
            return True
    return False


def read_rules_text(
    path: Path, max_bytes: int = MAX_RULES_BYTES
) -> tuple[str | None, list[Finding]]:
    """The UTF-8 text of a rules file, or a finding saying why it cannot be read.

    A file of more than ``max_bytes`` bytes is one finding naming the limit, found before any of
    it is parsed (and at most ``max_bytes + 1`` bytes are read, however large the file is).
    """
    try:
        with path.open("rb") as stream:
            raw = stream.read(max_bytes + 1)
        if len(raw) > max_bytes:
            return None, [_too_large(path, max_bytes)]
        # utf-8-sig: a byte-order mark some Windows editors add is not part of the YAML
        return raw.decode("utf-8-sig"), []
    except FileNotFoundError:
        return None, [Finding(str(path), 1, 1, "", "file not found")]
    except UnicodeDecodeError as error:
        message = f"the file is not UTF-8 text (byte {error.start} cannot be decoded)"
        return None, [Finding(str(path), 1, 1, "", message, "save it as UTF-8")]
    except OSError as error:
        return None, [Finding(str(path), 1, 1, "", f"cannot read the file: {error.strerror}")]


def _too_large(path: Path, max_bytes: int) -> Finding:
    message = f"the file is larger than the limit of {max_bytes} bytes for a rules file"
    hint = "split it, or raise RAPPORT_MAX_RULES_BYTES"
    return Finding(str(path), 1, 1, "", message, hint)


def load_model_file(path: str | Path, model: type[M]) -> M:
    """Load and validate one rules file as ``model``; raises ``RulesError`` with every finding."""
    text, findings = read_rules_text(Path(path))
    if text is None:
        raise RulesError(findings)
    instance, findings = check_model_text(text, str(path), model)
    if instance is None:
        raise RulesError(findings)
    return instance


def load_scorecard(path: str | Path) -> Scorecard:
    """A validated ``scorecard.yaml`` (shape and meaning); raises ``RulesError``."""
    return load_model_file(path, Scorecard)


# --- a loaded rules directory --------------------------------------------------------------------


@dataclass(frozen=True)
class Ruleset:
    """What the scorer needs of a loaded rules directory: its scorecard, the version it was loaded
    at (discovered at the edge, ``api.rules_version``), the directory and the files read."""

    scorecard: Scorecard
    version: str
    directory: Path
    files: tuple[Path, ...]


SCORECARD_FILE = "scorecard.yaml"
