"""Rules: what is serving (``GET /api/v1/rules``), checking a change before committing it
(``POST /api/v1/rules/validate``), what the change would do to every client
(``POST /api/v1/rules/preview``), re-scoring now (``POST /api/v1/evaluate``)."""

from __future__ import annotations

import re
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.concurrency import run_in_threadpool

from rapport.api.auth import Principal, require
from rapport.api.bundle import check_bundle, check_rules
from rapport.api.diff_output import diff_json
from rapport.api.errors import BadRequestError, PayloadTooLargeError
from rapport.api.reload import ReloadResult
from rapport.api.routes import AUTH_ERRORS, errors, service_of
from rapport.api.rules_diff import diff_bundles
from rapport.api.schemas import (
    EvaluateOut,
    FindingOut,
    GradeOut,
    PreviewOut,
    ReloadOut,
    RulesOut,
    ValidateOut,
)
from rapport.api.service import Service
from rapport.engine.errors import Finding
from rapport.engine.model import parse_duration
from rapport.engine.replay import window

router = APIRouter(prefix="/api/v1", tags=["rules"])

Reader = Annotated[Principal, Depends(require("read"))]
Admin = Annotated[Principal, Depends(require("admin"))]

#: A preview replays at most this long a window, in at most this many steps: each step scores
#: every client twice, in the request.
MAX_PREVIEW_DAYS = 366
MAX_PREVIEW_STEPS = 1000

_RULES_FILE = re.compile(r"^(?!.*\.\.)[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*\.ya?ml$")


def reload_out(result: ReloadResult) -> ReloadOut:
    return ReloadOut(
        ok=result.ok,
        at=result.at,
        version=result.version,
        findings=[FindingOut.of(f) for f in result.findings],
    )


@router.get("/rules", response_model=RulesOut, responses=errors(*AUTH_ERRORS, 503))
def get_rules(request: Request, principal: Reader) -> RulesOut:
    """The rules serving now (version, files) and the result of the last reload attempt."""
    holder = service_of(request).rules
    bundle = holder.current()
    last = holder.last_reload
    return RulesOut(
        version=bundle.version,
        directory=str(bundle.directory),
        files=[_relative(f, bundle.directory) for f in bundle.files],
        scorecard=bundle.scorecard.name,
        components=list(bundle.scorecard.components),
        grades=[GradeOut(name=g.name, min=g.min, color=g.color) for g in bundle.scorecard.grades],
        last_reload=reload_out(last) if last is not None else None,
    )


def _relative(path: Path, directory: Path) -> str:
    try:
        return str(path.relative_to(directory))
    except ValueError:
        return str(path)


#: Both rules endpoints take one changed rules file as the body, YAML or plain text.
RULES_FILE_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/yaml": {"schema": {"type": "string"}},
            "text/plain": {"schema": {"type": "string"}},
        },
    }
}
ReplacedFile = Annotated[
    str, Query(description="which file of the rules directory the body replaces")
]


@router.post(
    "/rules/validate",
    response_model=ValidateOut,
    responses=errors(*AUTH_ERRORS, 400, 413),
    openapi_extra=RULES_FILE_BODY,
)
async def validate_rules(
    request: Request,
    principal: Reader,
    file: ReplacedFile = "scorecard.yaml",
) -> ValidateOut:
    """Check a changed rules file against the rest of the serving rules directory, exactly as
    ``rapport rules check`` would; findings are ``path:line:col: key: message (hint)``."""
    text, limit = await _rules_body(request, file)
    directory = service_of(request).rules.directory
    return await run_in_threadpool(_check_with, directory, file, text, limit)


async def _rules_body(request: Request, file: str) -> tuple[str, int]:
    """The body of a rules file upload (validate, preview) and the rules-file limit: a 400 for a
    bad ``file`` name or non-UTF-8 text, a 413 over the limit — before any parsing, as parse
    cost grows much faster than the body."""
    if not _RULES_FILE.match(file):
        raise BadRequestError(f"file {file!r} must be a relative path to a .yaml file (no '..')")
    limit = request.app.state.settings.max_rules_bytes
    body = await request.body()
    if len(body) > limit:
        raise PayloadTooLargeError(limit)
    try:
        return body.decode("utf-8"), limit
    except UnicodeDecodeError:
        raise BadRequestError("the body must be UTF-8 YAML text") from None


@contextmanager
def _copy_with(directory: Path, file: str, text: str) -> Iterator[Path]:
    """A temporary copy of the rules ``directory`` with ``file`` replaced by ``text``."""
    with tempfile.TemporaryDirectory(prefix="rapport-validate-") as tmp:
        copy = Path(tmp) / "rules"
        shutil.copytree(
            directory, copy, ignore=shutil.ignore_patterns(".git", "__pycache__", "*.pyc")
        )
        target = copy / file
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
        yield copy


def _check_with(directory: Path, file: str, text: str, limit: int) -> ValidateOut:
    """Findings of ``directory`` with ``file`` replaced by ``text``, paths relative to it."""
    with _copy_with(directory, file, text) as copy:
        findings = [_relocated(f, copy) for f in check_rules(copy, max_bytes=limit)]
    return ValidateOut(ok=not findings, findings=[FindingOut.of(f) for f in sorted(findings)])


@router.post(
    "/rules/preview",
    response_model=PreviewOut,
    responses=errors(*AUTH_ERRORS, 400, 413),
    openapi_extra=RULES_FILE_BODY,
)
async def preview_rules(
    request: Request,
    principal: Admin,
    file: ReplacedFile = "scorecard.yaml",
    days: Annotated[int, Query(ge=0, le=MAX_PREVIEW_DAYS, description="window length")] = 90,
    step: Annotated[str, Query(description="time between replayed instants (1d, 12h)")] = "1d",
) -> PreviewOut:
    """What a changed rules file would do to every client: the serving rules and the serving
    directory with ``file`` replaced, both replayed over the stored signals for the ``days``
    before now (``rapport rules diff``'s JSON). Admin only: the diff names every client. Invalid
    proposed rules answer their findings, as validate does."""
    text, limit = await _rules_body(request, file)
    try:
        spacing = timedelta(seconds=parse_duration(step))
    except ValueError as error:
        raise BadRequestError(f"step {step!r}: {error}") from None
    if timedelta(days=days) / spacing > MAX_PREVIEW_STEPS:
        raise BadRequestError(f"{days} days at a step of {step} is over {MAX_PREVIEW_STEPS} steps")
    service = service_of(request)
    instants = window(service.clock(), days, spacing)
    return await run_in_threadpool(_preview_with, service, file, text, limit, instants)


def _preview_with(
    service: Service, file: str, text: str, limit: int, instants: tuple[datetime, ...]
) -> PreviewOut:
    serving = service.rules.current()
    with _copy_with(serving.directory, file, text) as copy:
        proposed, findings = check_bundle(copy, max_bytes=limit)
        if proposed is None:
            found = sorted(_relocated(f, copy) for f in findings)
            return PreviewOut(ok=False, findings=[FindingOut.of(f) for f in found])
        result = diff_bundles(service.store, serving, proposed, instants)
    return PreviewOut(ok=True, findings=[], diff=diff_json(result))


def _relocated(finding: Finding, root: Path) -> Finding:
    path = Path(finding.path)
    try:
        relative = str(path.relative_to(root))
    except ValueError:
        relative = finding.path
    return Finding(
        relative, finding.line, finding.column, finding.key, finding.message, finding.hint
    )


@router.post("/evaluate", response_model=EvaluateOut, responses=errors(*AUTH_ERRORS, 503))
def evaluate_now(request: Request, principal: Admin) -> EvaluateOut:
    """Re-score every client now (and store the result in the history)."""
    snapshot = service_of(request).evaluator.evaluate_now()
    ev = snapshot.evaluation
    return EvaluateOut(
        as_of=ev.as_of,
        rules_version=ev.rules_version,
        clients=len(ev.clients),
        scored=int((ev.score == ev.score).sum()),
        duration_seconds=snapshot.duration,
    )
