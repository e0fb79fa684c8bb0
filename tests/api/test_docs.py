"""``/docs`` and ``/redoc`` work without internet: every asset is served by Rapport itself.

The browser test runs Debian's headless Chromium (``.ci/run`` installs it) against a real server
on loopback, with every other host name unresolvable, as on an air-gapped network."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from live_api import LiveServer

REFERENCE = re.compile(r"""(?:src|href)="([^"]+)"|url: '([^']+)'""")
PAGES = {"/docs": "swagger-ui-bundle.js", "/redoc": "redoc.standalone.js"}


@pytest.mark.parametrize(
    ("page", "script"),
    [pytest.param(page, script, id=f"{page} loads only same-origin assets")
     for page, script in PAGES.items()],
)  # fmt: skip
def test_a_docs_page_references_only_assets_served_here(
    shared_world: LiveServer, page: str, script: str
) -> None:
    html = shared_world.call("GET", page, token=None).text
    references = [a or b for a, b in REFERENCE.findall(html)]
    assert any(r.endswith(script) for r in references), html
    assert "cdn" not in html.lower() and "fonts.googleapis" not in html
    for reference in references:
        assert reference.startswith("/") and not reference.startswith("//"), reference
        answer = shared_world.call("GET", reference, token=None)
        assert answer.status_code == 200, reference
        assert answer.content, reference


CHROMIUM = shutil.which("chromium")


def dump_dom(url: str, profile: Path) -> str:
    """The page's DOM after its scripts ran, in headless Chromium that can reach only loopback."""
    done = subprocess.run(
        [
            str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
            f"--user-data-dir={profile}",
            "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
            "--virtual-time-budget=15000", "--dump-dom", url,
        ],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def test_swagger_ui_and_redoc_render_in_a_browser_without_internet(
    shared_world: LiveServer, tmp_path: Path
) -> None:
    # Not skipped when missing: CI installs it (.ci/run), like promtool and dovecot.
    assert CHROMIUM is not None, "apt-get install chromium (as .ci/run does)"
    swagger = dump_dom(f"{shared_world.url}/docs", tmp_path / "profile")
    assert 'class="opblock-summary-path" data-path="/api/v1/clients"' in swagger
    redoc = dump_dom(f"{shared_world.url}/redoc", tmp_path / "profile")
    assert "api-content" in redoc and "/api/v1/clients/{client_id}" in redoc
