"""The pages obey the API's access rules: sign in with a token through a CSRF-protected form, a
signed HttpOnly session cookie after that, an owner's token sees only that owner's clients."""

from __future__ import annotations

import re
from datetime import timedelta

import httpx
import pytest
from live_api import LiveServer, ServerFactory, T, seed_world

from rapport.api.auth import Principal
from rapport.api.pages.session import SESSION_COOKIE, Sessions
from rapport.api.settings import TokenSpec

_CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def sign_in(server: LiveServer, token: str, next_path: str = "/") -> httpx.Response:
    """Fetch the login form (its CSRF cookie and field), then post ``token`` with it."""
    form = server.http.get("/login", params={"next": next_path})
    csrf = _CSRF.search(form.text)
    assert csrf is not None, form.text
    return server.http.post(
        "/login", data={"csrf": csrf.group(1), "token": token, "next": next_path}
    )


def test_a_page_without_a_session_redirects_to_the_login_form(world: LiveServer) -> None:
    answer = world.http.get("/clients/acme")
    assert answer.status_code == 303
    assert answer.headers["location"] == "/login?next=%2Fclients%2Facme"
    assert world.http.get("/").headers["location"] == "/login?next=%2F"


def test_a_bearer_header_alone_does_not_open_a_page(world: LiveServer) -> None:
    # Pages read the session cookie only: a page link never carries a token.
    assert world.call("GET", "/clients/acme").status_code == 303


def test_signing_in_sets_a_strict_httponly_session_and_returns_to_the_page(
    world: LiveServer,
) -> None:
    answer = sign_in(world, "read-token", "/clients/acme")
    assert answer.status_code == 303
    assert answer.headers["location"] == "/clients/acme"
    cookie = next(
        v for k, v in answer.headers.multi_items() if k == "set-cookie" and SESSION_COOKIE in v
    )
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie
    assert "Secure" not in cookie, "plain http on loopback: a Secure cookie would not come back"
    assert "read-token" not in cookie
    page = world.http.get("/clients/acme")
    assert page.status_code == 200 and "Acme Corp" in page.text


def test_an_owner_restricted_token_sees_only_that_owners_clients(world: LiveServer) -> None:
    sign_in(world, "alice-token")
    portfolio = world.http.get("/")
    listed = set(re.findall(r'data-client="([^"]+)"', portfolio.text))
    api = world.call("GET", "/api/v1/clients", token="alice-token").json()
    assert listed == {item["id"] for item in api["items"]} == {"acme", "initech"}
    assert world.http.get("/clients/initech").status_code == 200
    other = world.http.get("/clients/globex")
    assert other.status_code == 404 and "Globex" not in other.text
    assert world.http.get("/clients/globex/explain").status_code == 404


@pytest.mark.parametrize(
    ("token", "status"),
    [
        pytest.param("wrong-token", 401, id="an unknown token is refused with 401"),
        pytest.param("ingest-token", 403, id="a token without read is refused with 403"),
    ],
)
def test_signing_in_with_an_unusable_token_is_refused(
    world: LiveServer, token: str, status: int
) -> None:
    answer = sign_in(world, token)
    assert answer.status_code == status
    assert SESSION_COOKIE not in answer.headers.get("set-cookie", "")
    assert world.http.get("/").status_code == 303


def test_a_login_post_without_the_forms_csrf_value_is_refused(world: LiveServer) -> None:
    world.http.get("/login")  # the CSRF cookie is set, but the field is missing or forged
    for data in ({"token": "read-token"}, {"token": "read-token", "csrf": "forged"}):
        answer = world.http.post("/login", data=data)
        assert answer.status_code == 403
        assert SESSION_COOKIE not in answer.headers.get("set-cookie", "")


def test_a_tampered_session_cookie_is_refused(world: LiveServer) -> None:
    sign_in(world, "alice-token")
    cookie = world.http.cookies[SESSION_COOKIE]
    body, signature = cookie.split(".")
    forged = body[:-2] + ("AA" if body[-2:] != "AA" else "BB")
    for value in (f"{forged}.{signature}", f"{body}.{signature[:-1]}x", "garbage"):
        world.http.cookies.set(SESSION_COOKIE, value)
        assert world.http.get("/").status_code == 303, value


def test_logging_out_needs_the_sessions_csrf_value_and_ends_the_session(
    world: LiveServer,
) -> None:
    sign_in(world, "read-token")
    page = world.http.get("/")
    csrf = _CSRF.search(page.text)
    assert csrf is not None
    assert world.http.get("/logout").status_code == 405, "logout is POST only"
    assert world.http.post("/logout", data={"csrf": "forged"}).status_code == 403
    assert world.http.get("/").status_code == 200, "a forged logout does not end the session"
    answer = world.http.post("/logout", data={"csrf": csrf.group(1)})
    assert answer.status_code == 303
    assert world.http.get("/").status_code == 303


@pytest.mark.parametrize(
    "target",
    [
        pytest.param("//evil.example/x", id="a protocol-relative next goes home"),
        pytest.param("https://evil.example/", id="an absolute next goes home"),
        pytest.param("/\\evil.example", id="a backslash next goes home"),
    ],
)
def test_login_never_redirects_off_this_server(world: LiveServer, target: str) -> None:
    assert sign_in(world, "read-token", target).headers["location"] == "/"


def test_without_tokens_the_pages_are_open_like_the_api(serve_api: ServerFactory) -> None:
    server = serve_api(tokens=False)
    seed_world(server)
    assert server.http.get("/clients/globex").status_code == 200
    assert server.http.get("/login").headers["location"] == "/"


SPEC = TokenSpec(name="mei", sha256="a" * 64, scopes=("read",), owner="mei-chen")
MEI = Principal("mei", frozenset({"read"}), "mei-chen")


@pytest.mark.parametrize(
    ("tokens", "later"),
    [
        pytest.param((), timedelta(0), id="a session of a revoked token is refused"),
        pytest.param(
            (SPEC.model_copy(update={"owner": "bob"}),),
            timedelta(0),
            id="a session of a token given another owner is refused",
        ),
        pytest.param((SPEC,), timedelta(hours=12), id="an expired session is refused"),
    ],
)
def test_a_session_does_not_outlive_its_token(
    tokens: tuple[TokenSpec, ...], later: timedelta
) -> None:
    key = b"k" * 32
    cookie, _ = Sessions(key, (SPEC,)).issue(MEI, T)
    assert Sessions(key, (SPEC,)).verify(cookie, T) is not None
    assert Sessions(key, tokens).verify(cookie, T + later) is None


def test_a_session_signed_with_another_secret_is_refused() -> None:
    cookie, _ = Sessions(b"one" * 11, (SPEC,)).issue(MEI, T)
    assert Sessions(b"two" * 11, (SPEC,)).verify(cookie, T) is None
