"""Rendered Markdown: golden files from real scenarios, and the size budget."""
import os

import pytest

from analysis.report import Change, ColumnChange, GitRef, Impact, Report
from bot.render import MARKER, render_markdown
from tests.scenarios import SCENARIOS

from tests.paths import GOLDEN


def check_golden(name: str, text: str) -> None:
    path = os.path.join(GOLDEN, name)
    if os.environ.get("MESHDIFF_UPDATE_GOLDEN") == "1":
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(text)
    with open(path, encoding="utf-8") as handle:
        assert text == handle.read(), f"{name} differs; rerun with MESHDIFF_UPDATE_GOLDEN=1 and review the diff"


@pytest.mark.dbt
@pytest.mark.parametrize("name", ["rename-public-column", "make-public-model-private", "reformat-only"])
def test_comment_golden(scenario, name):
    report = scenario(name, SCENARIOS[name])
    report.base, report.head = GitRef("main", "a" * 40), GitRef(name, "b" * 40)
    check_golden(f"{name}.md", render_markdown(report, marker=MARKER))


def big_report(n: int) -> Report:
    impacts = [Impact(project=f"p{i % 7}", node=f"model.p{i % 7}.m{i}", resource_type="model",
                      severity=("breaking", "changed", "unknown")[i % 3], columns=[f"c{j}" for j in range(30)],
                      via=[f"model.shop.orders.c{i}", f"model.p{i % 7}.m{i}.c0"], owners=["Owner <o@x>"],
                      reasons=["`c0` reads `amount` of model.shop.orders (removed)"])
               for i in range(n)]
    change = Change(node="model.shop.orders", resource_type="model", category="breaking",
                    columns=[ColumnChange("amount", "removed")], reasons=["`amount` removed"])
    return Report("shop", GitRef("main", "a" * 40), GitRef("feat", "b" * 40), "failure", [change], impacts,
                  warnings=[f"warning {i}" for i in range(500)], projects=["shop"] + [f"p{i}" for i in range(7)],
                  policy=["1000 impacted node(s) with severity `breaking`"])


def test_truncation_keeps_verdict_and_per_project_summary():
    report = big_report(3000)
    text = render_markdown(report, max_chars=60_000, marker=MARKER)
    assert len(text) <= 60_000
    assert text.startswith(MARKER)
    assert "❌ **This change blocks the merge**" in text
    for p in range(7):
        assert f"| `p{p}` | " in text  # every project's summary row survives
    assert "… and" in text and "JSON report" in text


def test_small_report_is_not_truncated():
    text = render_markdown(big_report(10), max_chars=60_000)
    assert "left out" not in text and "```mermaid" in text


def test_table_cells_are_escaped():
    report = big_report(1)
    report.impacts[0].reasons = ["a | b <script>"]
    text = render_markdown(report)
    assert "a \\| b &lt;script&gt;" in text and "<script>" not in text
