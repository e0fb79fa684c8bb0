"""``POST /api/v1/rules/preview``: a changed rules file in, its diff against the serving rules
out (the JSON of ``rapport rules diff``); admin only, size-limited and checked like validate."""

from __future__ import annotations

from live_api import LiveServer, ServerFactory

PREVIEW = "/api/v1/rules/preview"


def scorecard(server: LiveServer) -> str:
    return (server.rules_dir / "scorecard.yaml").read_text()


def test_a_stricter_healthy_grade_moves_acme_to_watch(world: LiveServer) -> None:
    # acme scores 80 (replies 2 h → 80 points, one overdue invoice → 80): healthy from 75, not 85.
    body = scorecard(world).replace("{name: healthy, min: 75", "{name: healthy, min: 85")
    response = world.call("POST", PREVIEW, params={"days": 2}, content=body.encode())
    assert response.status_code == 200, response.text
    found = response.json()
    assert found["ok"] is True and found["findings"] == []
    diff = found["diff"]
    assert diff["base"] == world.service.rules.current().version
    acme = {c["client"]: c for c in diff["clients"]}["acme"]
    assert (acme["base"], acme["head"]) == (
        {"score": 80.0, "grade": "healthy"},
        {"score": 80.0, "grade": "watch"},
    )
    assert diff["summary"].startswith("1 client moves healthy → watch")
    assert diff["steps"] == 3


def test_the_serving_rules_themselves_preview_as_no_difference(world: LiveServer) -> None:
    response = world.call("POST", PREVIEW, params={"days": 1}, content=scorecard(world).encode())
    assert response.status_code == 200, response.text
    assert response.json()["diff"]["clients"] == []


def test_invalid_proposed_rules_answer_their_findings(world: LiveServer) -> None:
    body = scorecard(world).replace("aggregate: mean", "aggregate: meen")
    response = world.call("POST", PREVIEW, content=body.encode())
    assert response.status_code == 200
    found = response.json()
    assert found["ok"] is False and found["diff"] is None
    assert found["findings"][0]["text"].startswith("scorecard.yaml:")


def test_a_reader_may_not_preview(world: LiveServer) -> None:
    response = world.call("POST", PREVIEW, token="read-token", content=b"version: 1\n")
    assert response.status_code == 403


def test_a_preview_body_over_the_rules_limit_is_a_413(serve_api: ServerFactory) -> None:
    server = serve_api(max_rules_bytes=2048)
    response = server.call("POST", PREVIEW, content=b"version: 1\n" + b"# padding\n" * 300)
    assert response.status_code == 413
    assert "larger than the limit of 2048 bytes" in response.text


def test_a_bad_step_or_too_many_steps_is_a_400(world: LiveServer) -> None:
    body = scorecard(world).encode()
    bad = world.call("POST", PREVIEW, params={"step": "daily"}, content=body)
    assert bad.status_code == 400 and "step 'daily'" in bad.text
    many = world.call("POST", PREVIEW, params={"days": 300, "step": "1h"}, content=body)
    assert many.status_code == 400 and "over 1000 steps" in many.text
