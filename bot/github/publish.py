"""Publishing a job's result: the sticky comment first, then the check run's completion.

Everything here is idempotent (comment found by marker + author and edited; check run found by
``external_id``, and completed only while it is the job's own and open), so a task retried after a GitHub outage ends in the same state as one that
never failed.
"""
from __future__ import annotations

import logging

from analysis.report import Report
from bot.github.checks import CHECK_NAME, CheckRun, check_summary, conclusion_of, details_text, verdict_title
from bot.github.comment import MARKER, MAX_COMMENT_CHARS, CommentTooLong, UpsertResult, upsert_sticky
from bot.config import Notify
from bot.result import JobResult

log = logging.getLogger("meshdiff.publish")

RETRY_HINT = f"comment `/meshdiff rerun` on the pull request or click **Re-run** on the `{CHECK_NAME}` check"


def footer(head_sha: str, base_sha: str | None = None) -> str:
    against = f" against `{base_sha[:7]}`" if base_sha else ""
    return (f"<sub>meshdiff analysed `{head_sha[:7]}`{against} · to run again, comment `/meshdiff rerun` "
            f"or click **Re-run** on the `{CHECK_NAME}` check · `/meshdiff help`</sub>")


def render(reports: list[Report], *, max_chars: int, footer_text: str, marker: str = "", mention: str = "breaking",
           page_url: str | None = None) -> str:
    from bot.render import render_markdown

    return render_markdown(reports, max_chars=max_chars, footer=footer_text, marker=marker, mention=mention,
                           page_url=page_url)


def comment_body(result: JobResult, head_sha: str, *, page_url: str | None = None) -> str:
    base = result.reports[0].base.sha if result.reports else None
    notes = "".join(f"> {n}\n\n" for n in result.notes)
    budget = MAX_COMMENT_CHARS - len(notes) - 2
    text = render(result.reports, max_chars=budget, footer_text=footer(head_sha, base), marker=MARKER,
                  mention=Notify.from_dict(result.notify).mention, page_url=page_url)
    if not text.startswith(MARKER):
        text = f"{MARKER}\n{text}"
    if notes:
        first, rest = text.split("\n", 1)
        text = f"{first}\n{notes}{rest}"
    if len(text) > MAX_COMMENT_CHARS:  # render_markdown promises max_chars; never post an oversize body
        raise CommentTooLong(f"rendered comment of {len(text)} chars exceeds {MAX_COMMENT_CHARS}")
    return text


def nothing_body(reason: str, head_sha: str) -> str:
    return f"{MARKER}\n### meshdiff impact report\n\n{reason}\n\n{footer(head_sha)}\n"


def wants_comment(result: JobResult) -> bool:
    """``policy.comment``: ``always``; ``on-impact`` (something downstream is reached, or the
    analysis blocks or failed); ``on-failure`` (the check fails)."""
    when = Notify.from_dict(result.notify).comment
    failing = conclusion_of(result.reports) == "failure"
    if when == "on-failure":
        return failing
    if when == "on-impact":
        return failing or any(r.impacts or r.broken for r in result.reports)
    return True


def publish_result(*, thread, check: CheckRun, bot_login: str, result: JobResult, head_sha: str,
                   page_url: str | None = None, pull=None) -> dict:
    """Upsert the sticky comment and complete the check run. Returns what was done.

    Under a quiet ``policy.comment`` no comment is created, but one that exists (an earlier push
    had findings) is still brought up to date. ``pull`` (a PyGithub PullRequest): where review
    requests go under ``policy.request_reviews: breaking``."""
    if result.nothing:
        # nothing analysed: refresh an existing comment (an earlier push may have had findings),
        # never create a new one just to say so
        upsert: UpsertResult = upsert_sticky(thread, bot_login, nothing_body(result.nothing, head_sha), create=False)
        summary = result.nothing + "".join(f"\n\n{n}" for n in result.notes)
        check.complete("neutral", "Nothing to analyse", summary + "\n\n" + footer(head_sha))
        return {"comment": upsert.action, "conclusion": "neutral"}
    body = comment_body(result, head_sha, page_url=page_url)
    upsert = upsert_sticky(thread, bot_login, body, create=wants_comment(result))
    conclusion = conclusion_of(result.reports)
    check.complete(conclusion, verdict_title(result.reports), check_summary(result.reports, page_url),
                   details_text(result.reports, page_url), result.annotations, details_url=page_url)
    reviews = request_reviews(pull, result) if pull is not None else None
    log.info("published %s: comment %s, check %s", head_sha[:12], upsert.action, conclusion)
    return {"comment": upsert.action, "conclusion": conclusion, **({"reviews": reviews} if reviews else {})}


def request_reviews(pull, result: JobResult) -> dict | None:
    """Ask the owners of breaking consumers for a review (``policy.request_reviews: breaking``):
    users by login, teams of the repository's organisation by slug. GitHub refuses the whole
    request (422) when one of them cannot review (no access to the repository, the PR's author);
    then each is asked alone, so one stranger does not stop the others. Refusals are logged and
    returned, never fatal."""
    from bot.render.owners import review_requests

    users, teams = review_requests(result.reports, Notify.from_dict(result.notify).request_reviews)
    org = (getattr(getattr(pull.base, "repo", None), "full_name", "") or "").split("/")[0].lower()
    author = (getattr(getattr(pull, "user", None), "login", "") or "").lower()
    users = [u for u in users if u.lower() != author]
    slugs = [t.split("/", 1)[1] for t in teams if t.split("/", 1)[0].lower() == org]
    if not users and not slugs:
        return None
    asks = [([u], [], u) for u in users] + [([], [s], f"{org}/{s}") for s in slugs]
    try:
        pull.create_review_request(reviewers=users, team_reviewers=slugs)
        return {"requested": [name for _, _, name in asks]}
    except Exception as exc:  # noqa: BLE001 - a refused reviewer must not fail the publication
        if len(asks) == 1:
            log.warning("review request for %s refused: %s", asks[0][2], exc)
            return {"requested": [], "refused": [asks[0][2]]}
    done: dict[str, list[str]] = {"requested": [], "refused": []}
    for reviewers, team_reviewers, name in asks:
        try:
            pull.create_review_request(reviewers=reviewers, team_reviewers=team_reviewers)
            done["requested"].append(name)
        except Exception as exc:  # noqa: BLE001
            log.warning("review request for %s refused: %s", name, exc)
            done["refused"].append(name)
    return done


def publish_superseded(check: CheckRun, reason: str) -> None:
    """A stale run: complete its check run as ``cancelled`` (it is not a verdict), no comment."""
    check.complete("cancelled", "Superseded", f"{reason}\n\nThis run's result was not published; the newer run "
                   "reports on the pull request.")


def failure_summary(what: str) -> str:
    return f"{what}\n\nNothing was published for this commit. To try again, {RETRY_HINT}."


def publish_failure(check: CheckRun, what: str, *, title: str = "meshdiff could not complete the analysis",
                    create: bool = True) -> None:
    """Complete the check run with ``failure`` and a message saying what happened and how to retry
    (``create=False``: only a run the job already has)."""
    check.complete("failure", title, failure_summary(what), create=create)
