"""In a real browser (headless Chromium, Debian package ``chromium``, driven by Playwright for
Python): the impact page loads offline with no console error, its graph shows the impacted
nodes, its search filters the list, hostile names stay text; every golden comment's Mermaid
parses with the real ``mermaid`` package (npm, as GitHub renders it).
"""
import glob
import json
import os
import re
import shutil

import pytest

from analysis.report import Report
from bot.page.build import build_page
from tests.bot.test_render_hostile import HOSTILE, report as hostile_report
from tests.golden_cases import synthetic_report
from tests.paths import GOLDEN, ROOT

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
MERMAID = os.path.join(ROOT, "tests", "standin", "node_modules", "mermaid", "dist", "mermaid.min.js")


@pytest.fixture(scope="module")
def browser():
    if not os.path.exists(CHROMIUM):
        pytest.fail("headless Chromium is missing: apt-get install -y chromium (.ci/run does)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield b
        b.close()


class Page:
    """A page opened offline: any request that is not the file itself fails the test."""

    def __init__(self, browser, html: str, tmp_path):
        path = tmp_path / "page.html"
        path.write_text(html, encoding="utf-8")
        self.errors: list[str] = []
        self.requests: list[str] = []
        self.context = browser.new_context(offline=True, viewport={"width": 1200, "height": 900})
        self.page = self.context.new_page()
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type in ("error", "warning") else None)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("request", lambda r: self.requests.append(r.url))
        self.page.goto(path.as_uri())
        self.page.wait_for_selector("body[data-ready='1']", state="attached", timeout=30_000)
        self.url = path.as_uri()

    def visible_rows(self) -> int:
        return self.page.evaluate("[...document.querySelectorAll('#impact-rows tr')].filter(r => !r.hidden).length")

    def close(self):
        self.context.close()


def test_page_loads_offline_shows_the_graph_and_filters(browser, tmp_path):
    report = synthetic_report(30)
    page = Page(browser, build_page(report), tmp_path)
    try:
        assert page.requests == [page.url], page.requests  # nothing fetched: no CDN, no font, no map
        assert page.errors == []
        nodes = set(page.page.evaluate("window.meshdiff.cy.nodes().filter(n => !n.isParent()).map(n => n.id())"))
        assert nodes == {i.node for i in report.impacts} | {"model.shop.orders"}
        x = page.page.evaluate("Object.fromEntries(window.meshdiff.cy.nodes().filter(n => !n.isParent())"
                               ".map(n => [n.id(), n.position('x')]))")
        # laid out in layers, left to right: the change, then what reads it
        assert all(x["model.shop.orders"] < v for k, v in x.items() if k != "model.shop.orders")
        assert page.visible_rows() == 30
        page.page.fill("#search", "consumer_1")
        assert page.visible_rows() == 5 and page.page.text_content("#count") == "5 of 30 impacted nodes"
        page.page.fill("#search", "consumer_1 mart_007")
        assert page.visible_rows() == 1
        dimmed = page.page.evaluate("window.meshdiff.cy.nodes('.dim').length")
        assert dimmed == 29  # the graph follows the search (the changed node stays lit)
        page.page.fill("#search", "")
        assert page.visible_rows() == 30
        assert page.errors == []
    finally:
        page.close()


def test_hostile_names_stay_text_on_the_page(browser, tmp_path):
    report = hostile_report(HOSTILE)
    page = Page(browser, build_page(report), tmp_path)
    try:
        assert page.errors == [] and page.requests == [page.url]
        counts = page.page.evaluate("""() => ({
            img: document.querySelectorAll('img').length,
            script: document.querySelectorAll('script:not([src])').length,
            details: document.querySelectorAll('details').length,
            links: document.querySelectorAll('a').length,
        })""")
        assert counts == {"img": 0, "script": 4, "details": 0, "links": 0}  # 3 page scripts + the data
        assert HOSTILE.replace("\r", "\n").split("\n")[0][:20] in page.page.text_content("#impact-rows")
        page.page.fill("#search", "evil.example")
        assert page.visible_rows() == len(report.impacts) == 4  # every impacted node is named by the word
    finally:
        page.close()


def test_the_served_page_sends_its_csp(tmp_path):
    """The web process serves the stored page with the CSP whose hashes let its scripts run."""
    from bot.page.build import csp

    html = build_page(synthetic_report(3))
    assert f'content="{csp()}"'.replace("'", "&#x27;") in html
    assert "http://" not in re.sub(r"<script>.*?</script>", "", html, flags=re.S).replace("http://www.w3.org", "")


def mermaid_blocks() -> list[tuple[str, str]]:
    out = []
    for path in sorted(glob.glob(os.path.join(GOLDEN, "*.md"))):
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
        out += [(os.path.basename(path), m) for m in re.findall(r"```mermaid\n(.*?)\n```", text, flags=re.S)]
    return out


def test_every_golden_mermaid_parses_with_mermaid(browser, tmp_path):
    blocks = mermaid_blocks()
    assert len(blocks) >= 5, "the goldens should hold pictures"
    if not os.path.exists(MERMAID):
        pytest.fail(f"{MERMAID} is missing: npm ci --prefix tests/standin")
    page = Page(browser, "<!doctype html><body data-ready='1'><div id='out'></div></body>", tmp_path)
    try:
        page.page.add_script_tag(path=MERMAID)
        page.page.evaluate("mermaid.initialize({startOnLoad: false, securityLevel: 'strict'})")
        for name, code in blocks + [("a syntax error (the test can fail)", "flowchart LR\n  a --> --> b")]:
            result = page.page.evaluate("""async (code) => {
                try { await mermaid.parse(code); const r = await mermaid.render('m' + Math.random().toString(36).slice(2), code);
                      return {ok: true, svg: r.svg.length}; }
                catch (e) { return {ok: false, error: String(e && e.message || e)}; }
            }""", code)
            if name.startswith("a syntax error"):
                assert not result["ok"]
            else:
                assert result["ok"], f"{name}: {result}"
    finally:
        page.close()


def test_html_format_of_the_cli_is_the_same_page(tmp_path):
    from bot.cli.output import render
    from bot.cli.parser import build

    report = Report.from_dict(json.loads(json.dumps(synthetic_report(5).to_dict())))
    assert render(report, "html") == build_page(report)
    assert build().parse_args(["analyze", "--project", "p", "--base", "main", "--format", "html"]).format == "html"
