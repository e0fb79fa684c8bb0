"""The pages: ``/`` (portfolio), ``/clients/{id}`` (one client), ``/clients/{id}/explain`` (its
explanation JSON), ``/validation`` (the last ``rapport validate`` report), ``/login`` and
``/logout``, and their assets under ``/-/pages-assets``.

Access is the API's: with tokens configured a browser signs in once with a token (``session``)
and every page acts with that token's principal — an owner-restricted token lists only its
owner's clients, and any other client is a 404, exactly as ``/api/v1`` answers. Without tokens
(loopback-only open mode) the pages are open too. Every page is sent with a strict
Content-Security-Policy: it loads nothing but this server's own stylesheet, and runs no script.
"""

from __future__ import annotations

import hmac
import re
import secrets
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.security import HTTPAuthorizationCredentials
from jinja2 import FileSystemLoader, StrictUndefined
from jinja2.sandbox import ImmutableSandboxedEnvironment
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

from rapport.api.auth import ANONYMOUS, Authenticator, Principal
from rapport.api.errors import NotFoundError, UnauthorizedError
from rapport.api.notify.wiring import links_for
from rapport.api.pages import chart, views
from rapport.api.pages.i18n import LANG_COOKIE, LANGUAGES, Texts, choose_language
from rapport.api.pages.session import LOGIN_CSRF_COOKIE, SESSION_COOKIE, Session, Sessions
from rapport.api.routes import service_of

ASSETS = "/-/pages-assets"
_HERE = Path(__file__).parent
STATIC_DIR = _HERE / "static"
#: Sent with every page and asset: load only from this origin, no script, no framing.
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; script-src 'none'; object-src 'none'; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}
_LOCAL_PATH = re.compile(r"^/(?![/\\])[^\s]*$")

router = APIRouter(include_in_schema=False)
templates = ImmutableSandboxedEnvironment(
    loader=FileSystemLoader(str(_HERE / "templates")),
    autoescape=True,
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


class PageAssets(StaticFiles):
    """The package's CSS, sent with the pages' security headers."""

    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        response.headers.update({k: v for k, v in SECURITY_HEADERS.items() if k != "Cache-Control"})
        return response


def client_url(client_id: str) -> str:
    return f"/clients/{quote(client_id, safe='')}"


# --- who is looking, in which language ---------------------------------------------------------


def _viewer(request: Request) -> tuple[Principal, Session | None] | None:
    """The viewer's principal (and session), or None when they must sign in first."""
    authenticator: Authenticator = request.app.state.authenticator
    if authenticator.open:
        return ANONYMOUS, None
    sessions: Sessions = request.app.state.sessions
    verified = sessions.verify(request.cookies.get(SESSION_COOKIE), service_of(request).clock())
    if verified is None or "read" not in verified[1].scopes:
        return None
    session, principal = verified
    return principal, session


def _sign_in_first(request: Request) -> Response:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"/login?next={quote(target, safe='')}", status_code=303)


def _texts(request: Request) -> Texts:
    return Texts(
        choose_language(
            request.query_params.get("lang"),
            request.cookies.get(LANG_COOKIE),
            request.headers.get("accept-language"),
        )
    )


def _secure(request: Request) -> bool:
    return request.url.scheme == "https"


def _page(request: Request, template: str, *, status: int = 200, **context: Any) -> Response:
    """``template`` rendered for the viewer, with the security headers, remembering ``?lang=``."""
    t = _texts(request)
    context.setdefault("session", None)
    html = templates.get_template(template).render(
        t=t, lang=t.lang, path=request.url.path, client_url=client_url, assets=ASSETS, **context
    )
    response = Response(html, status_code=status, media_type="text/html; charset=utf-8")
    response.headers.update(SECURITY_HEADERS)
    if request.query_params.get("lang") in LANGUAGES:
        response.set_cookie(
            LANG_COOKIE, t.lang, max_age=365 * 86400, samesite="strict", secure=_secure(request)
        )
    return response


# --- pages -------------------------------------------------------------------------------------


@router.get("/")
def portfolio_page(request: Request) -> Response:
    viewer = _viewer(request)
    if viewer is None:
        return _sign_in_first(request)
    principal, session = viewer
    groups = views.portfolio(request, principal)
    snapshot = service_of(request).evaluator.snapshot
    return _page(
        request,
        "portfolio.html.j2",
        groups=groups,
        total=sum(len(g.clients) for g in groups),
        as_of=snapshot.evaluation.as_of if snapshot else None,
        rules_version=snapshot.evaluation.rules_version if snapshot else None,
        validation=_validation_report(request, principal) is not None,
        session=session,
    )


#: The validation report's own policy: it is a generated file with inline styles (the charts'
#: SVG) and no script, so inline style is allowed there and nothing else is.
VALIDATION_CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; script-src 'none'; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)


def _validation_report(request: Request, principal: Principal) -> Path | None:
    """The last report `rapport validate` wrote, for a viewer who may see the whole book (its
    figures cover every client; an owner-restricted viewer sees only their own)."""
    path = Path(service_of(request).settings.validation_report)
    return path if principal.owner is None and path.is_file() else None


@router.get("/validation")
def validation_page(request: Request) -> Response:
    """The HTML report of the last ``rapport validate`` run, as written; 404 without one."""
    viewer = _viewer(request)
    if viewer is None:
        return _sign_in_first(request)
    path = _validation_report(request, viewer[0])
    if path is None:
        body, status = "<!doctype html><p>No validation report: run rapport validate.</p>", 404
    else:
        body, status = path.read_text(encoding="utf-8"), 200
    response = Response(body, status_code=status, media_type="text/html; charset=utf-8")
    response.headers.update({**SECURITY_HEADERS, "Content-Security-Policy": VALIDATION_CSP})
    return response


@router.get("/clients/{client_id}")
def client_page(request: Request, client_id: str) -> Response:
    viewer = _viewer(request)
    if viewer is None:
        return _sign_in_first(request)
    principal, session = viewer
    try:
        view = views.client_view(request, principal, client_id, _texts(request))
    except NotFoundError:
        return _page(request, "not_found.html.j2", status=404, client_id=client_id, session=session)
    service = service_of(request)
    bundle = service.rules.bundle
    scale = (bundle.scorecard.scale.min, bundle.scorecard.scale.max) if bundle else (0.0, 100.0)
    grades = [(g.name, g.min, g.color) for g in bundle.scorecard.grades] if bundle else []
    drawn = chart.layout([(p.as_of, p.score) for p in view.history], grades, scale, view.window)
    return _page(
        request,
        "client.html.j2",
        view=view,
        c=view.detail,
        x=view.explanation,
        chart=drawn,
        board=links_for(service.settings, client_id).board,
        session=session,
    )


@router.get("/clients/{client_id}/explain")
def client_explain(request: Request, client_id: str) -> Response:
    """The explanation JSON of ``/api/v1/clients/{id}/explain`` for a signed-in browser (the
    link alert emails and the client page carry)."""
    viewer = _viewer(request)
    if viewer is None:
        return _sign_in_first(request)
    try:
        body = views.explanation_json(request, viewer[0], client_id)
    except NotFoundError as error:
        body, status = f'{{"reason": "{error}"}}'.encode(), 404
    else:
        status = 200
    response = Response(body, status_code=status, media_type="application/json")
    response.headers.update(SECURITY_HEADERS)
    return response


@router.get("/-/pages/grades.css")
def grade_styles(request: Request) -> Response:
    """One class per grade (``g-healthy``) in the serving scorecard's colours: the colours live
    in the rules, and a stylesheet keeps them out of inline styles the CSP forbids."""
    rules = [
        f".g-{name}{{background:{color};color:{_ink(color)}}}"
        for name, color in views.grade_colors(service_of(request)).items()
    ]
    rules.append(f".g-none{{background:{views.NEUTRAL_COLOR};color:#fff}}")
    response = Response("\n".join(rules) + "\n", media_type="text/css")
    response.headers.update(SECURITY_HEADERS)
    return response


def _ink(color: str) -> str:
    """Black or white text, whichever reads better on ``color`` (a #rrggbb or a CSS name)."""
    if not color.startswith("#"):
        return "#fff"
    r, g, b = (int(color[i : i + 2], 16) for i in (1, 3, 5))
    return "#000" if 0.299 * r + 0.587 * g + 0.114 * b > 150 else "#fff"


# --- signing in and out ------------------------------------------------------------------------


def _local(target: str | None) -> str:
    """``target`` when it is a path on this server, else ``/`` (no open redirect)."""
    return target if target and _LOCAL_PATH.match(target) else "/"


def _login_form(request: Request, *, status: int = 200, error: str | None = None) -> Response:
    csrf = secrets.token_urlsafe(24)
    next_path = _local(request.query_params.get("next"))
    response = _page(
        request, "login.html.j2", status=status, csrf=csrf, next=next_path, error=error
    )
    response.set_cookie(
        LOGIN_CSRF_COOKIE, csrf, path="/login", httponly=True, samesite="strict",
        secure=_secure(request),
    )  # fmt: skip
    return response


@router.get("/login")
def login_page(request: Request) -> Response:
    authenticator: Authenticator = request.app.state.authenticator
    if authenticator.open:
        return RedirectResponse("/", status_code=303)
    return _login_form(request)


async def _form(request: Request) -> dict[str, str]:
    """A urlencoded form body (the body size is bounded by the app's BodyLimit)."""
    fields = parse_qs((await request.body()).decode("utf-8", "replace"), max_num_fields=10)
    return {name: values[0] for name, values in fields.items()}


@router.post("/login")
async def login(request: Request) -> Response:
    """Verify the POSTed token and start a session. Refused (403) without the form's CSRF value
    matching its cookie; 401 for a token the API would refuse; 403 for one without ``read``."""
    authenticator: Authenticator = request.app.state.authenticator
    if authenticator.open:
        return RedirectResponse("/", status_code=303)
    form = await _form(request)
    expected = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if not expected or not hmac.compare_digest(form.get("csrf", ""), expected):
        return _login_form(request, status=403, error="login_expired")
    credentials = HTTPAuthorizationCredentials(scheme="Bearer", credentials=form.get("token", ""))
    try:
        principal = authenticator.authenticate(credentials)
    except UnauthorizedError:
        return _login_form(request, status=401, error="login_failed")
    if "read" not in principal.scopes:
        return _login_form(request, status=403, error="login_no_read")
    sessions: Sessions = request.app.state.sessions
    cookie, _ = sessions.issue(principal, service_of(request).clock())
    response = RedirectResponse(_local(form.get("next")), status_code=303)
    response.set_cookie(
        SESSION_COOKIE, cookie, httponly=True, samesite="strict", secure=_secure(request)
    )
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/login")
    return response


@router.post("/logout")
async def logout(request: Request) -> Response:
    """End the session; 403 unless the form carries the session's CSRF value."""
    viewer = _viewer(request)
    form = await _form(request)
    session = viewer[1] if viewer is not None else None
    if session is None or not hmac.compare_digest(form.get("csrf", ""), session.csrf):
        return _login_form(request, status=403, error="login_expired")
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, httponly=True, samesite="strict")
    return response
