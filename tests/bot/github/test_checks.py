"""Check-run output and lifecycle (against the stand-in, validated by GitHub's OpenAPI)."""
import pytest

from analysis.report import Change
from bot.github.checks import (ANNOTATIONS_PER_REQUEST, CHECK_NAME, OUTPUT_LIMIT, RERUN_ACTION, CheckRun, build_annotations,
                        conclusion_of, details_text, verdict_title)
from bot.github.client import make_github
from tests.app_fixtures import fake_report, standin_github, standin_openapi  # noqa: F401

REPO = "octo-org/shop-dbt"


def test_verdicts_never_claim_safe():
    failing = fake_report()
    assert conclusion_of([failing]) == "failure"
    assert verdict_title([failing]) == "Blocks the merge: 1 breaking node in finance"
    passing = fake_report(conclusion="success")
    assert conclusion_of([passing]) == "success"
    title = verdict_title([passing])
    assert title == "No downstream impact" and "safe" not in title.lower()
    broken = fake_report(conclusion="success")
    broken.conclusion, broken.errors, broken.changes = "failure", ["dbt compile failed"], []
    assert verdict_title([broken]) == "Could not finish the analysis (1 error)"
    assert conclusion_of([passing, broken]) == "failure"


def test_details_text_bounded():
    report = fake_report()
    report.errors = ["x" * 100_000]
    text = details_text([report] * 3)
    assert len(text) <= OUTPUT_LIMIT and "`revenue`" in text and "### `finance`: 1 breaking" in text


def test_annotations_on_changed_lines(tmp_path):
    report = fake_report()
    report.changes.append(Change(node="model.shop.customers", resource_type="model", category="additive",
                                 file="shop/models/marts/customers.sql"))
    yml = tmp_path / "shop" / "models" / "marts"
    yml.mkdir(parents=True)
    (yml / "_marts.yml").write_text("models:\n  - name: orders\n    columns:\n      - name: amount\n")
    (yml / "other.yml").write_text("models:\n  - name: unrelated\n")
    lines = {"shop/models/marts/orders.sql": [3, 4, 5, 9], "shop/models/marts/_marts.yml": [4],
             "shop/models/marts/other.yml": [2], "README.md": [1]}
    anns = build_annotations([report], lines, str(tmp_path))
    sql = [a for a in anns if a["path"].endswith("orders.sql")]
    assert [(a["start_line"], a["end_line"]) for a in sql] == [(3, 5), (9, 9)]
    assert all(a["annotation_level"] == "failure" for a in sql)
    assert "Reaches exec_reporting: 1 changed; finance: 1 breaking" in sql[0]["message"]
    [y] = [a for a in anns if a["path"].endswith(".yml")]
    assert y["path"] == "shop/models/marts/_marts.yml" and y["start_line"] == 4
    assert not any(a["path"].endswith("customers.sql") for a in anns)  # file not changed by the PR


def test_annotations_follow_the_gate():
    """breaking and unknown are failures, anything on a passing PR a notice: never a warning."""
    lines = {"shop/models/marts/orders.sql": [3]}
    blocking = fake_report()
    assert [a["annotation_level"] for a in build_annotations([blocking], lines)] == ["failure"]
    unknown = fake_report()
    unknown.changes[0].category, unknown.impacts = "unknown", []
    assert [a["annotation_level"] for a in build_annotations([unknown], lines)] == ["failure"]
    passing = fake_report(conclusion="success")
    passing.changes[0].category = "partial"
    assert [a["annotation_level"] for a in build_annotations([passing], lines)] == ["notice"]
    changed_only = fake_report()
    changed_only.impacts = [i for i in changed_only.impacts if i.severity == "changed"]
    changed_only.changes[0].category, changed_only.conclusion = "partial", "success"
    assert [a["annotation_level"] for a in build_annotations([changed_only], lines)] == ["notice"]


@pytest.fixture
def repo(standin_github):
    gh = standin_github
    gh.add_installation(41, "octo-org")
    gh.add_repo(REPO, {"shop/models/marts/orders.sql": "".join(f"select {i}\n" for i in range(200))})
    head = gh.commit(REPO, "feat", {"shop/models/marts/orders.sql": "".join(f"select {i}!\n" for i in range(200))})
    g = make_github(gh.issue_token(41), gh.api_url, seconds_between_writes=0)
    return gh, g.get_repo(REPO), head


def test_lifecycle_batches_and_idempotent_start(repo):
    gh, repo_obj, head = repo
    run = CheckRun(repo_obj, head, f"{REPO}#1@{head}#1")
    run_id = run.start()
    [state] = gh.check_runs(REPO, head)
    assert state["status"] == "in_progress" and state["name"] == CHECK_NAME
    assert CheckRun(repo_obj, head, f"{REPO}#1@{head}#1").start() == run_id  # found by external_id
    assert CheckRun(repo_obj, head, f"{REPO}#2@{head}#2").start() != run_id  # another PR's job: its own
    newer = CheckRun(repo_obj, head, f"{REPO}#1@{head}#2")
    assert newer.start() == run_id  # a newer run of the same commit takes the open run over
    [state] = [s for s in gh.check_runs(REPO, head) if s["id"] == run_id]
    assert state["external_id"] == f"{REPO}#1@{head}#2" and state["status"] == "in_progress"
    patches = len(gh.requests_for("PATCH", r"/check-runs/"))
    assert run.complete("cancelled", "Superseded", "x") is False  # no longer the old job's run: left alone
    assert len(gh.requests_for("PATCH", r"/check-runs/")) == patches
    assert CheckRun(repo_obj, head, f"{REPO}#1@{head}#3").complete("failure", "t", "s", create=False) is False
    anns = [{"path": "shop/models/marts/orders.sql", "start_line": i, "end_line": i, "annotation_level": "warning",
             "message": f"m{i}", "title": "t"} for i in range(1, 121)]
    assert newer.complete("failure", "Blocked: 1 breaking downstream impact", "s" * 70_000, "t" * 70_000, anns)
    state = next(s for s in gh.check_runs(REPO, head) if s["id"] == run_id)
    assert state["status"] == "completed" and state["conclusion"] == "failure"
    assert len(state["annotations"]) == 120
    assert state["actions"] == [RERUN_ACTION]
    assert len(state["output"]["summary"]) <= 65_535 and len(state["output"]["text"]) <= 65_535
    patches = gh.requests_for("PATCH", rf"/check-runs/{run_id}$")[1:]  # after the takeover
    assert [len((p["json"].get("output") or {}).get("annotations", [])) for p in patches] == \
        [ANNOTATIONS_PER_REQUEST, ANNOTATIONS_PER_REQUEST, 20]
    # a completed run is final (on GitHub and in the stand-in): a later job never reopens it
    assert newer.complete("success", "t", "s") is False and CheckRun(repo_obj, head, f"{REPO}#1@{head}#4").start() != run_id


def test_standin_keeps_a_completed_run_final(repo):
    gh, repo_obj, head = repo
    run = CheckRun(repo_obj, head, f"{REPO}#1@{head}#1")
    run.complete("success", "ok", "fine")
    run.run.edit(status="in_progress", output={"title": "again", "summary": "reopen"})  # what GitHub ignores
    [state] = gh.check_runs(REPO, head)
    assert (state["status"], state["conclusion"]) == ("completed", "success")
    [violation] = gh.take_violations()
    assert "GitHub keeps its status and conclusion" in violation
