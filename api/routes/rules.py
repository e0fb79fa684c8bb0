"""Rules: what is serving (``GET /api/v1/rules``), checking a change before committing it
(``POST /api/v1/rules/validate``), re-scoring now (``POST /api/v1/evaluate``)."""

from __future__ import annotations

import re
import shutil
import tempfile
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.concurrency import run_in_threadpool

from rapport.api.auth import Principal, require
from rapport.api.bundle import check_rules
from rapport.api.errors import BadRequestError, PayloadTooLargeError
from rapport.api.reload import ReloadResult
from rapport.api.routes import AUTH_ERRORS, errors, service_of
from rapport.api.schemas import (
    EvaluateOut,
    FindingOut,
    GradeOut,
    ReloadOut,
    RulesOut,
    ValidateOut,
)
from rapport.engine.errors import Finding

router = APIRouter(prefix="/api/v1", tags=["rules"])

Reader = Annotated[Principal, Depends(require("read"))]
Admin = Annotated[Principal, Depends(require("admin"))]

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


@router.post(
    "/rules/validate",
    response_model=ValidateOut,
    responses=errors(*AUTH_ERRORS, 400, 413),
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/yaml": {"schema": {"type": "string"}},
                "text/plain": {"schema": {"type": "string"}},
            },
        }
    },
)
async def validate_rules(
    request: Request,
    principal: Reader,
    file: Annotated[
        str, Query(description="which file of the rules directory the body replaces")
    ] = "scorecard.yaml",
) -> ValidateOut:
    """Check a changed rules file against the rest of the serving rules directory, exactly as
    ``rapport rules check`` would; findings are ``path:line:col: key: message (hint)``."""
    if not _RULES_FILE.match(file):
        raise BadRequestError(f"file {file!r} must be a relative path to a .yaml file (no '..')")
    # The rules-file limit, before any parsing: parse cost grows much faster than the body.
    limit = request.app.state.settings.max_rules_bytes
    body = await request.body()
    if len(body) > limit:
        raise PayloadTooLargeError(limit)
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise BadRequestError("the body must be UTF-8 YAML text") from None
    directory = service_of(request).rules.directory
    return await run_in_threadpool(_check_with, directory, file, text, limit)


def _check_with(directory: Path, file: str, text: str, limit: int) -> ValidateOut:
    """Findings of ``directory`` with ``file`` replaced by ``text``, paths relative to it."""
    with tempfile.TemporaryDirectory(prefix="rapport-validate-") as tmp:
        copy = Path(tmp) / "rules"
        shutil.copytree(
            directory, copy, ignore=shutil.ignore_patterns(".git", "__pycache__", "*.pyc")
        )
        target = copy / file
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
        findings = [_relocated(f, copy) for f in check_rules(copy, max_bytes=limit)]
    return ValidateOut(ok=not findings, findings=[FindingOut.of(f) for f in sorted(findings)])


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
