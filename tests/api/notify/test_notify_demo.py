"""``rapport serve --demo`` on a fresh store, with the shipped rules and no SMTP configured: the
demo's deteriorating clients alert at once and their emails land as ``.eml`` files in the outbox
directory the banner names (what ``make run`` shows)."""

from __future__ import annotations

import email.policy
from email.parser import BytesParser
from pathlib import Path

from live_api import ServeProcess, wait_for

SHIPPED = Path(__file__).parents[3] / "rules"


def test_serve_demo_writes_alert_emails_as_eml_files(tmp_path: Path, private_outbox: Path) -> None:
    serve = ServeProcess(f"sqlite:///{tmp_path / 'demo.db'}", SHIPPED, "--demo")
    try:
        banner = serve.lines.get(timeout=30)  # the banner's last line, after "  store"
        assert banner.startswith("  alerts    emailed "), banner
        assert f"as .eml files in {private_outbox.resolve()}/" in banner
        files = wait_for(lambda: sorted(private_outbox.glob("*.eml")), timeout=60,
                         what="the demo's alert emails")  # fmt: skip
    finally:
        serve.stop()
    parsed = BytesParser(policy=email.policy.default).parsebytes(files[0].read_bytes())
    assert str(parsed["Subject"]).startswith("[Rapport] ")
    assert parsed.get_body(("plain",)) is not None
