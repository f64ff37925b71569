"""Rendered Markdown: golden comments of seven real PRs and a 200-impact one, and the budget.

The goldens are reviewed as rendered (``tests/render/shoot.py`` renders them to PNG in
Chromium at GitHub's comment width); ``tests/bot/test_render_browser.py`` parses every Mermaid
block of them with the real ``mermaid`` package.
"""
import dataclasses
import json
import os
import re

import pytest

from analysis.report import Report
from bot.render import MARKER, render_markdown
from bot.render.facts import by_severity
from tests.golden_cases import CASES, pinned, synthetic_report
from tests.paths import GOLDEN

PAGE = "https://meshdiff.example.com/pages/Xq3v9cT0kq0mZ1bV2n4r8w"


def check_golden(name: str, text: str) -> None:
    path = os.path.join(GOLDEN, name)
    if os.environ.get("MESHDIFF_UPDATE_GOLDEN") == "1":
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(text)
    with open(path, encoding="utf-8") as handle:
        assert text == handle.read(), f"{name} differs; rerun with MESHDIFF_UPDATE_GOLDEN=1 and review the diff"


def comment(report: Report) -> str:
    return render_markdown(report, marker=MARKER, page_url=PAGE)


def load_golden_report(name: str) -> Report:
    with open(os.path.join(GOLDEN, f"{name}.json"), encoding="utf-8") as handle:
        return Report.from_dict(json.load(handle))


@pytest.mark.dbt
@pytest.mark.parametrize("name", list(CASES))
def test_golden_reports_are_what_the_pipeline_says(scenario, name):
    """The golden report of each case is what the real pipeline (dbt compiles) produces today."""
    report = pinned(scenario(f"golden-{name}", CASES[name]), name)
    check_golden(f"{name}.json", json.dumps(report.to_dict(), indent=1, sort_keys=True) + "\n")


@pytest.mark.parametrize("name", list(CASES))
def test_comment_golden(name):
    """Each case's comment, rendered from its golden report (reviewed as rendered: see the README
    of tests/golden)."""
    check_golden(f"{name}.md", comment(load_golden_report(name)))


def test_synthetic_golden_fits_every_row():
    """200 impacts (where the old layout showed 5 of 170 changed rows): every row fits."""
    report = synthetic_report(200)
    text = comment(report)
    check_golden("synthetic-200.md", text)
    assert len(text) <= 60_000 and "left out" not in text
    assert set(re.findall(r"`(mart_\d{3}_daily_metrics)`", text)) == {i.node.rsplit(".", 1)[1] for i in report.impacts}


def test_over_budget_rows_are_kept_by_severity():
    report = synthetic_report(600)
    text = comment(report)
    assert len(text) <= 60_000
    shown = set(re.findall(r"`(mart_\d{3}_daily_metrics)`", text))
    kept = [i.node.rsplit(".", 1)[1] in shown for i in by_severity(report.impacts)]
    first_cut = kept.index(False)
    # every breaking row is kept before any unknown one, every unknown before any changed one
    assert first_cut > 200 and not any(kept[first_cut:])
    assert "rows left out to fit GitHub's size limit" in text and PAGE in text


def test_budget_is_the_real_60000_and_each_row_is_short():
    report = synthetic_report(60)
    text = comment(report)
    assert len(text) < 60_000 and "left out" not in text
    per_row = (len(text) - len(comment(synthetic_report(30)))) / 30
    assert per_row < 400, per_row  # a row and its path bullet, not ~650 characters per row


def test_verdict_counts_per_severity_and_project_worst_first():
    report = synthetic_report(9)
    heading = comment(report).split("\n")[1]
    assert heading == ("### ❌ Blocks the merge: 3 breaking nodes in `consumer_0` (2), `consumer_3` (1) · "
                       "3 unknown nodes in `consumer_1` (2), `consumer_4` (1)")


def test_clean_and_changed_verdicts_never_say_safe():
    report = synthetic_report(3)
    report.impacts = [i for i in report.impacts if i.severity == "changed"]
    report.conclusion = "success"
    assert comment(report).split("\n")[1] == "### ⚠️ Nothing breaks: 1 node in `consumer_2` may change values"
    report.impacts = []
    assert comment(report).split("\n")[1] == "### ✅ No downstream impact"


def _as_test(impact, name: str, *, resource_type: str = "test"):
    """``impact`` turned into a data test (or unit test) of the same project that reads it."""
    return dataclasses.replace(impact, node=f"{resource_type}.{impact.project}.{name}", resource_type=resource_type,
                               via=impact.via + [f"{resource_type}.{impact.project}.{name}"])


def test_tests_are_counted_apart_from_the_nodes_they_read():
    """read-by-18: 18 nodes may change values; their 32 data tests are one number, not 50 nodes."""
    from bot.render import verdict
    report = load_golden_report("read-by-18")
    tests = sum(1 for i in report.impacts if i.resource_type in ("test", "unit_test"))
    assert (len(report.impacts), tests) == (50, 32)
    text = comment(report)
    assert text.split("\n")[1] == ("### ⚠️ Nothing breaks: 18 nodes in `finance` (9), `shop` (5), `exec_reporting` (4) "
                                   "may change values, 32 tests read them")
    assert "<b>finance</b>: 9 may change values (+13 tests)</summary>" in text
    assert verdict.title([report]) == ("Nothing breaks: 18 nodes in finance (9), shop (5), exec_reporting (4) "
                                       "may change values, 32 tests read them")


def test_a_breaking_test_is_a_headline_finding_by_name():
    report = synthetic_report(3)  # one breaking, one unknown, one changed model
    breaking = report.impacts[0]
    report.impacts.append(_as_test(breaking, "not_null_orders_subtotal.071fd913f1"))
    heading = comment(report).split("\n")[1]
    assert heading == ("### ❌ Blocks the merge: 1 breaking node in `consumer_0` · makes `consumer_0`'s "
                       "`not_null_orders_subtotal` fail · 1 unknown node in `consumer_1`")
    report.impacts.append(_as_test(breaking, "orders_subtotal_rounds", resource_type="unit_test"))
    heading = comment(report).split("\n")[1]
    assert "· makes 2 tests fail in `consumer_0` ·" in heading


def test_only_tests_reached_are_named_as_tests():
    """A change read only by its own tests: no "0 nodes"."""
    report = synthetic_report(3)
    changed = report.impacts[2]
    report.impacts = [_as_test(changed, "unique_orders_id.c5af1ff4b1")]
    report.conclusion = "success"
    text = comment(report)
    assert text.split("\n")[1] == "### ⚠️ Nothing breaks: 1 test in `consumer_2` reads changed values"
    assert "<b>consumer_2</b>: 1 test reads changed values</summary>" in text


def test_test_rows_come_after_every_model_of_their_severity():
    """The budget keeps rows in this order, so tests are the first rows cut within a severity."""
    report = synthetic_report(12)
    report.impacts = [_as_test(i, f"not_null_{n}") for n, i in enumerate(report.impacts[:6])] + report.impacts
    ranked = by_severity(report.impacts)
    for severity in ("breaking", "unknown", "changed"):
        kinds = [i.resource_type for i in ranked if i.severity == severity]
        assert kinds == sorted(kinds, key=lambda k: k == "test") and "test" in kinds, kinds
    limit = len(comment(report))
    while "_2 rows left out" not in (text := render_markdown(report, max_chars=limit, page_url=PAGE)):
        assert limit > 0 and "_3 rows left out" not in text
        limit -= 50
    models = [i.node.split(".")[-1] for i in report.impacts if i.resource_type == "model"]
    assert all(f"`{m}`" in text for m in models)
    assert "`not_null_2`" not in text and "`not_null_5`" not in text  # the two changed tests
    assert "`not_null_0`" in text and "`not_null_4`" in text  # breaking and unknown tests stay


def test_who_to_ask_counts_tests_apart_from_the_nodes_they_read():
    """An owner of 1 breaking model and 2 breaking tests is asked about 1 breaking node and
    2 failing tests, not '3 breaking'; changed tests are a '+N tests' tail."""
    from analysis.report import GitRef, Impact
    from bot.render.owners import ask_line

    def impact(node, kind, severity):
        return Impact("finance", node, kind, severity, [], [node], owners=["Fin"], handles=["@org/fin"])

    report = Report("shop", GitRef("main", "a" * 40), GitRef("pr", "b" * 40), "failure", [], [
        impact("model.finance.revenue", "model", "breaking"),
        impact("test.finance.not_null_revenue_total.1a2b3c4d5e", "test", "breaking"),
        impact("unit_test.finance.revenue.sums", "unit_test", "breaking"),
        impact("test.finance.unique_revenue_day.0a0b0c0d0e", "test", "changed"),
    ])
    assert ask_line([report]) == "**Who to ask:** @org/fin (1 breaking, 2 tests fail, +1 test)"
    report.impacts = report.impacts[1:2]
    assert ask_line([report], mention="none") == "**Who to ask:** `@org/fin` (1 test fails)"


def test_check_run_summary_counts_tests_in_a_column_of_their_own():
    from analysis.report import GitRef, Impact
    from bot.render.checkrun import summary

    def impact(node, kind, severity):
        return Impact("finance", node, kind, severity, [], [node])

    report = Report("shop", GitRef("main", "a" * 40), GitRef("pr", "b" * 40), "failure", [], [
        impact("model.finance.revenue", "model", "breaking"),
        impact("exposure.finance.board", "exposure", "changed"),
        impact("test.finance.not_null_revenue_total.1a2b3c4d5e", "test", "breaking"),
        impact("unit_test.finance.revenue.sums", "unit_test", "breaking"),
        impact("test.finance.unique_revenue_day.0a0b0c0d0e", "test", "changed"),
    ], projects=["shop", "finance"])
    text = summary([report])
    assert "| Project | 🔴 Breaking | 🟠 Unknown | 🟡 May change | Tests reached |" in text
    assert "| `finance` | 1 | 0 | 1 | 3 (2 fail) |" in text
