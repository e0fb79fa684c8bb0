"""``rapport alerts preview``: what the shipped alert rules would notify on the demo, as text and as
the emails themselves (an mbox), sending and storing nothing."""

from __future__ import annotations

import mailbox
from email import policy
from email.parser import BytesParser
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rapport.api.cli import app

AS_OF = "2026-11-19"


@pytest.fixture
def demo(tmp_path: Path):  # type: ignore[no-untyped-def]
    """``rapport`` against a starter rules directory and the demo seeded as of ``AS_OF``."""
    runner = CliRunner()
    rules = tmp_path / "rules"
    assert runner.invoke(app, ["init", str(rules)]).exit_code == 0

    def invoke(*args: str):  # type: ignore[no-untyped-def]
        url = f"sqlite:///{tmp_path}/rapport.db"
        return runner.invoke(app, ["--database-url", url, "--rules-dir", str(rules), *args])

    assert invoke("demo", "--as-of", AS_OF, "--format", "json").exit_code == 0
    return invoke


def test_preview_lists_what_would_fire_for_the_deteriorating_demo_clients(demo) -> None:  # type: ignore[no-untyped-def]
    result = demo("alerts", "preview", "--as-of", AS_OF)
    assert result.exit_code == 0, result.output
    assert "score_dropping" in result.output and "quanta-energy" in result.output


def test_preview_as_eml_renders_the_emails_and_sends_and_stores_nothing(  # type: ignore[no-untyped-def]
    demo, tmp_path: Path
) -> None:
    result = demo("alerts", "preview", "--as-of", AS_OF, "--format", "eml")
    assert result.exit_code == 0, result.output
    (tmp_path / "preview.mbox").write_bytes(result.stdout_bytes)
    messages = list(mailbox.mbox(tmp_path / "preview.mbox"))
    assert messages
    for message in messages:
        parsed = BytesParser(policy=policy.default).parsebytes(message.as_bytes())
        assert str(parsed["Subject"]).startswith("[Rapport] ")
        assert str(parsed["To"]).endswith("@example.com")
        assert {part.get_content_type() for part in parsed.iter_parts()} == {
            "text/plain",
            "text/html",
        }
    quanta = [m for m in messages if "Quanta Energy" in str(m["Subject"])]
    assert quanta, "the demo's sev1 client would be notified"
    outbox = demo("alerts", "outbox")
    assert "pending: 0, sent: 0, failed: 0" in outbox.output  # nothing was queued
    assert not (tmp_path / "data").exists()  # and no .eml file was written
