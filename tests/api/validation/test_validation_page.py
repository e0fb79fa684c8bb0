"""``/validation``: the last report `rapport validate` wrote, linked from the portfolio, for
viewers who may see the whole book, under a policy that allows its inline styles and no script."""

from __future__ import annotations

import re
from pathlib import Path

from live_api import ServerFactory, seed_world

from rapport.api.pages.routes import VALIDATION_CSP

REPORT = "<!doctype html><title>report</title><svg><rect style='fill:red'/></svg>"
_CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def test_without_a_report_there_is_no_link_and_the_page_is_a_404(
    serve_api: ServerFactory, tmp_path: Path
) -> None:
    server = serve_api(tokens=False, validation_report=tmp_path / "none.html")
    seed_world(server)
    assert 'href="/validation"' not in server.http.get("/").text
    missing = server.http.get("/validation")
    assert missing.status_code == 404
    assert "rapport validate" in missing.text


def test_the_written_report_is_served_as_is_and_linked(
    serve_api: ServerFactory, tmp_path: Path
) -> None:
    report = tmp_path / "validation.html"
    report.write_text(REPORT, encoding="utf-8")
    server = serve_api(tokens=False, validation_report=report)
    seed_world(server)
    assert 'href="/validation"' in server.http.get("/").text
    page = server.http.get("/validation")
    assert page.status_code == 200
    assert page.text == REPORT
    assert page.headers["content-security-policy"] == VALIDATION_CSP
    assert "script-src 'none'" in VALIDATION_CSP and "default-src 'none'" in VALIDATION_CSP


def test_an_owner_restricted_viewer_does_not_see_the_books_report(
    serve_api: ServerFactory, tmp_path: Path
) -> None:
    report = tmp_path / "validation.html"
    report.write_text(REPORT, encoding="utf-8")
    server = serve_api(validation_report=report)
    seed_world(server)
    form = server.http.get("/login", params={"next": "/"})
    csrf = _CSRF.search(form.text)
    assert csrf is not None
    signed = server.http.post("/login", data={"csrf": csrf.group(1), "token": "alice-token"})
    assert signed.status_code == 303
    assert 'href="/validation"' not in server.http.get("/").text
    assert server.http.get("/validation").status_code == 404


OUTCOME = {"event_id": "crm-1", "client": "acme", "kind": "outcome", "ts": "2026-05-01T00:00:00Z"}


def test_the_push_api_takes_outcomes_and_refuses_a_malformed_type(
    serve_api: ServerFactory,
) -> None:
    server = serve_api()
    seed_world(server)
    batch = [
        {**OUTCOME, "type": "renewed", "value": 120000, "deal": "D-1"},
        {**OUTCOME, "event_id": "crm-2", "type": "Churned!"},
    ]
    response = server.call("POST", "/api/v1/signals", json={"signals": batch})
    assert response.status_code == 200, response.text
    body = response.json()
    assert [a["event_id"] for a in body["accepted"]] == ["crm-1"]
    (rejected,) = body["rejected"]
    assert rejected["event_id"] == "crm-2" and rejected["reason"].startswith("type: ")
