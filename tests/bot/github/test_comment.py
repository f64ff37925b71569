"""The sticky comment against the stand-in (contract-validated): one per PR, by marker and author."""
import pytest

from bot.github.comment import (MARKER, MAX_COMMENT_CHARS, CommentTooLong, find_sticky, pr_thread, sticky_body,
                         upsert_sticky)
from bot.github.client import make_github
from tests.app_fixtures import standin_github, standin_openapi  # noqa: F401

REPO = "octo-org/shop-dbt"


@pytest.fixture
def thread(standin_github):
    gh = standin_github
    gh.add_installation(51, "octo-org")
    gh.add_repo(REPO, {"README.md": "x\n"})
    gh.commit(REPO, "feat", {"a.sql": "select 1\n"})
    gh.open_pull(REPO, 3, head_branch="feat")
    g = make_github(gh.issue_token(51), gh.api_url, seconds_between_writes=0)
    return gh, pr_thread(g.withLazy(True).get_repo(REPO), 3)


def test_create_then_unchanged_then_edit(thread):
    gh, t = thread
    bot = gh.bot_login
    # a human quoting the marker and another bot's comment are never taken for ours
    gh.add_comment(REPO, 3, f"{MARKER}\nfake", user="mallory")
    first = upsert_sticky(t, bot, sticky_body("report v1"))
    assert first.action == "created"
    assert upsert_sticky(t, bot, sticky_body("report v1")).action == "unchanged"
    assert upsert_sticky(t, bot, sticky_body("report v2")).action == "updated"
    ours = [c for c in gh.comments(REPO, 3) if c["user"] == bot]
    assert len(ours) == 1 and ours[0]["body"].startswith(MARKER) and "report v2" in ours[0]["body"]
    assert len(gh.requests_for("POST", r"/issues/3/comments$")) == 1
    assert len(gh.requests_for("PATCH", r"/issues/comments/")) == 1


def test_a_bot_comment_without_the_marker_is_neither_edited_nor_returned(thread):
    gh, t = thread
    bot = gh.bot_login
    # the bot's own comments that are not the sticky report: a /meshdiff help reply, and one
    # that only quotes the marker further down
    help_reply = gh.add_comment(REPO, 3, "Commands: `/meshdiff rerun`, `/meshdiff help`", user=bot)
    quoting = gh.add_comment(REPO, 3, f"see below\n{MARKER}\nquoted", user=bot)
    assert find_sticky(t, bot) is None
    result = upsert_sticky(t, bot, sticky_body("report v1"))
    assert result.action == "created" and result.comment_id not in (help_reply["id"], quoting["id"])
    by_id = {c["id"]: c for c in gh.comments(REPO, 3)}
    assert by_id[help_reply["id"]]["body"] == "Commands: `/meshdiff rerun`, `/meshdiff help`"
    assert by_id[quoting["id"]]["body"].startswith("see below") and by_id[help_reply["id"]]["edit_count"] == 0
    assert gh.requests_for("PATCH", r"/issues/comments/") == []
    assert find_sticky(t, bot).id == result.comment_id


def test_found_beyond_the_first_page(thread):
    gh, t = thread
    gh.add_comment(REPO, 3, f"{MARKER}\nold report", user=gh.bot_login)
    for i in range(130):
        gh.add_comment(REPO, 3, f"comment {i}", user="alice")
    assert upsert_sticky(t, gh.bot_login, sticky_body("new report")).action == "updated"
    assert sum(1 for c in gh.comments(REPO, 3) if c["user"] == gh.bot_login) == 1


def test_create_false_leaves_pr_quiet(thread):
    gh, t = thread
    assert upsert_sticky(t, gh.bot_login, sticky_body("nothing"), create=False).action == "skipped"
    assert gh.comments(REPO, 3) == []


def test_size_limit():
    with pytest.raises(CommentTooLong):
        sticky_body("x" * MAX_COMMENT_CHARS)
    assert len(sticky_body("x" * (MAX_COMMENT_CHARS - 100))) <= MAX_COMMENT_CHARS


def test_comment_body_of_a_huge_report_stays_within_the_limit():
    from analysis.report import Impact
    from bot.github.publish import comment_body
    from bot.jobs.runner import JobResult
    from tests.app_fixtures import fake_report

    report = fake_report()
    report.impacts = [Impact("finance", f"model.finance.m{i}", "model", "breaking", [f"c{j}" for j in range(20)],
                             via=["model.shop.orders.v2.amount", f"model.finance.m{i}.c0"], reasons=["x" * 200])
                      for i in range(3000)]
    body = comment_body(JobResult([report], notes=["This PR changes `.meshdiff.yml`."]), "b" * 40)
    assert body.startswith(MARKER + "\n") and len(body) <= MAX_COMMENT_CHARS
    # the verdict survives, with its counts per project, and the first rows by severity
    assert "### ❌ Blocks the merge: 3000 breaking nodes in `finance`" in body
    assert "| 🔴 breaking | `m0`" in body and "more nodes | listed on" in body
    assert "This PR changes `.meshdiff.yml`." in body


def test_huge_errors_never_push_a_later_reports_summary_out():
    from analysis.report import Impact
    from bot.render import render_markdown
    from tests.app_fixtures import fake_report

    first = fake_report(project="shop")
    first.errors = ["dbt said: " + "x" * 70_000, *[f"error {i}: " + "y" * 5_000 for i in range(40)]]
    first.warnings = ["w" * 50_000]
    second = fake_report(project="core")
    second.impacts.append(Impact("exec_reporting", "model.exec_reporting.board", "model", "unknown", ["a"],
                                 via=["model.core.orders.v2.amount"]))
    body = render_markdown([first, second], max_chars=MAX_COMMENT_CHARS, marker=MARKER)
    assert len(body) <= MAX_COMMENT_CHARS and "[truncated to fit" not in body  # no hard cut was needed
    first_part, second_part = body.split("#### `core`", 1)
    assert "| 🟠 unknown | `board`" in second_part and "| 🔴 breaking | `revenue`" in second_part
    assert "dbt said: xxx" in first_part and "(cut; the check run has the whole message)" in first_part
    assert "more errors in the check run" in first_part
