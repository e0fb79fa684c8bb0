"""The client page in a real headless browser (Debian's chromium) against a live ``rapport serve
--demo`` on loopback: it shows the API's numbers, every request it makes loads from this server,
and a screenshot is kept at ``tests/artifacts/client-page.png`` (git-ignored) to look at."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import pytest
from browser import dump_dom, load, screenshot
from live_api import ServeProcess

from rapport.api.pages.i18n import Texts

RULES = Path(__file__).resolve().parents[3] / "rules"
ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"
CLIENT = "harbor-health-group"  # the demo's slipping client: a drop, caps and evidence to show


class _Page(HTMLParser):
    """Every ``src``/``href`` of a DOM, and the text and attributes of elements with an id."""

    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []
        self.by_id: dict[str, dict[str, str]] = {}
        self._open: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k: v or "" for k, v in attrs}
        self.links += [values[k] for k in ("src", "href") if k in values]
        if "id" in values:
            self.by_id[values["id"]] = {**values, "text": ""}
            self._open.append(values["id"])
        elif self._open:
            self._open.append("")

    def handle_endtag(self, tag: str) -> None:
        if self._open:
            self._open.pop()

    def handle_data(self, data: str) -> None:
        for element in self._open:
            if element:
                self.by_id[element]["text"] += data


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServeProcess]:
    root = tmp_path_factory.mktemp("browser")
    shutil.copytree(RULES, root / "rules")
    server = ServeProcess(f"sqlite:///{root / 'demo.db'}", root / "rules", "--demo", tokens=False)
    yield server
    server.stop()


def test_the_client_page_shows_the_apis_numbers_in_a_browser(
    demo: ServeProcess, tmp_path: Path
) -> None:
    # The demo's collectors may re-score it at any moment: compare with an API answer that was
    # the same just before and just after the browser loaded the page.
    page, api = _Page(), None
    for attempt in range(5):
        before = demo.call("GET", f"/api/v1/clients/{CLIENT}", token=None).json()
        dom = dump_dom(f"{demo.url}/clients/{CLIENT}?lang=en", tmp_path / f"profile{attempt}")
        after = demo.call("GET", f"/api/v1/clients/{CLIENT}", token=None).json()
        if before == after:
            api = after
            page.feed(dom)
            break
    assert api is not None, "the client was re-scored during every page load"
    t = Texts("en")
    assert page.by_id["score"]["text"].strip() == t.number(api["score"])
    assert page.by_id["grade"]["data-grade"] == api["grade"]
    assert float(page.by_id["coverage"]["data-coverage"]) == api["coverage"]
    assert page.by_id["coverage"]["text"].strip() == t.percent(api["coverage"])
    assert page.by_id["rules-version"]["text"] == api["rules_version"]
    for component in api["components"]:
        assert f"component-{component}" in page.by_id


def test_every_link_and_asset_of_the_client_page_is_same_origin_and_loads(
    demo: ServeProcess, tmp_path: Path
) -> None:
    page = _Page()
    page.feed(dump_dom(f"{demo.url}/clients/{CLIENT}", tmp_path / "profile"))
    assert page.links, "the page links its stylesheets and pages"
    origin = urlsplit(demo.url).netloc
    for link in page.links:
        absolute = urljoin(f"{demo.url}/clients/{CLIENT}", link)
        assert urlsplit(absolute).netloc == origin, link
        assert demo.http.get(absolute).status_code == 200, link


@pytest.mark.parametrize(
    "path",
    [
        pytest.param(f"/clients/{CLIENT}?lang=en", id="the English client page loads cleanly"),
        pytest.param(f"/clients/{CLIENT}?lang=zh-CN", id="the Chinese client page loads cleanly"),
        pytest.param("/", id="the portfolio loads cleanly"),
    ],
)
def test_no_request_of_the_page_fails(demo: ServeProcess, tmp_path: Path, path: str) -> None:
    loaded = load(f"{demo.url}{path}", tmp_path / "profile")
    urls = {r.url for r in loaded.requests.values()}
    assert f"{demo.url}/-/pages-assets/pages.css" in urls
    assert f"{demo.url}/-/pages/grades.css" in urls
    assert loaded.failed() == []
    assert all(urlsplit(url).netloc == urlsplit(demo.url).netloc for url in urls), urls


def test_a_screenshot_of_the_client_page_is_kept(demo: ServeProcess, tmp_path: Path) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    for lang in ("en", "zh-CN"):
        target = ARTIFACTS / f"client-page.{lang}.png"
        shot = screenshot(f"{demo.url}/clients/{CLIENT}?lang={lang}", target, tmp_path / lang)
        assert shot.stat().st_size > 10_000, "a blank page would be tiny"
        print(f"screenshot: {shot}")
    portfolio = screenshot(f"{demo.url}/", ARTIFACTS / "portfolio.png", tmp_path / "portfolio")
    print(f"screenshot: {portfolio}")
