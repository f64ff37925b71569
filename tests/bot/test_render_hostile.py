"""Untrusted text comes out inert (issue 8, item 8): hostile node names, columns, owners, branch
names, project names and dbt errors, rendered by a real GFM renderer (cmark-gfm, GitHub's own
fork, through ``cmarkgfm``; raw HTML allowed, as GitHub allows some) in the comment and in the
check run's summary and text, produce no element, link, image, heading, mention, issue
reference or emoji, and a ``\\r`` in a dbt error does not leave its code fence.

The method: render a hostile report and its benign twin (same structure, plain names) and
compare the HTML element structure; then scan the hostile rendering's text outside code for
what GitHub would turn into links or notifications.
"""
import re
from html.parser import HTMLParser

import cmarkgfm
import pytest
from cmarkgfm.cmark import Options

from analysis.report import BrokenProject, Change, ColumnChange, GitRef, Impact, Report, Snippet, Suggestion
from bot.github.checks import build_annotations, check_summary, details_text, verdict_title
from bot.render import MARKER, escape as esc, mermaid, render_markdown

HOSTILE = ("x`y``z\r```\r# Injected <img src=x onerror=alert(1)> [link](https://evil.example) "
           "![img](https://evil.example/i.png) @org/team @alice #123 www.evil.example :smile: "
           "<script>alert(1)</script> | cell | ~~s~~ $x$ &amp; **b** <details><summary>s</summary> "
           "deadbeefcafe1234 alice@example.com \u202egnp.exe\u202c")
PAGE = "https://meshdiff.example.com/pages/TOKEN"


def report(word: str) -> Report:
    """A report whose every PR- or project-controlled string is ``word``."""
    node = f"model.finance.{word}"
    change = Change(f"model.shop.{word}", "model", "breaking", [ColumnChange(word, "renamed", word + "2"),
                                                              ColumnChange(word + "3", "removed")],
                    reasons=[f"governance: contract column `{word}` removed", f"`{word}` renamed to `{word}2`"],
                    file=f"shop/models/{word}.sql", access="public", owners=[word])
    impacts = [
        Impact("finance", node, "model", "breaking", [word, word + "4"], [f"model.shop.{word}.{word}", f"{node}.{word}"],
               owners=[f"{word} <{word}@example.com>"], handles=["@" + word, "@octo-org/finance"],
               reasons=[f"`{word}` reads `{word}` of model.shop.{word} (renamed)"], file=f"models/{word}.sql"),
        Impact("finance", f"exposure.finance.{word}", "exposure", "unknown", [], [f"model.shop.{word}.{word}", node,
                                                                                  f"exposure.finance.{word}"],
               owners=[word], reasons=[f"depends on {node}; its lineage is unknown: {word}"]),
        Impact("finance", f"test.finance.{word}", "test", "breaking", [], [f"model.shop.{word}.{word}",
                                                                        f"{node}.{word}", f"test.finance.{word}"],
               owners=[word]),  # named in the verdict: "makes `finance`'s `<its name>` fail"
        Impact("exec", f"model.exec.{word}", "model", "changed", [word], [f"model.shop.{word}.{word}", f"{node}.{word}",
                                                                         f"model.exec.{word}.{word}"], owners=[word]),
    ]
    r = Report("shop", GitRef(word, "a" * 40), GitRef(word, "b" * 40), "failure", [change], impacts,
               warnings=[f"lineage of {node} is partial: {word}"], errors=[f"dbt said:\n{word}\n```\n{word}"],
               projects=["shop", "finance", "exec"], policy=[f"model.shop.{word}: contract column `{word}` removed"])
    r.broken = [BrokenProject("finance", f"Compilation Error\r```\r{word}\n", [node])]
    r.suggestions = [Suggestion("new-version", change.node, f"Ship the change as v2 of `{word}`",
                                f"Keep `{word}` until 2099-01-01.", [Snippet("yaml", f"- name: {word}\n```\n{word}", word)],
                                [f"finance:models/{word}.sql"])]
    return r


class Shape(HTMLParser):
    """Element structure of HTML (tags and attribute names), and text outside code/pre/a."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.tags: list[str] = []
        self.hrefs: list[str] = []
        self.text: list[str] = []
        self._code = 0

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag + "(" + ",".join(sorted(k for k, _ in attrs)) + ")")
        self.hrefs += [v for k, v in attrs if k in ("href", "src")]
        if tag in ("code", "pre", "a"):
            self._code += 1

    def handle_endtag(self, tag):
        if tag in ("code", "pre", "a"):
            self._code -= 1

    def handle_data(self, data):
        if not self._code:
            self.text.append(data)


def html_of(markdown: str) -> Shape:
    shape = Shape()
    shape.feed(cmarkgfm.github_flavored_markdown_to_html(markdown, options=Options.CMARK_OPT_UNSAFE))
    return shape


# what GitHub itself turns into links or notifications in text (html-pipeline's filters)
GITHUB_PATTERNS = {
    "mention": re.compile(r"(?:^|[^\w`])@[a-z0-9][a-z0-9-]*", re.I),
    "issue reference": re.compile(r"(?:^|\W)#\d+"),
    "url": re.compile(r"https?://|www\.", re.I),
    "emoji": re.compile(r":[a-z0-9_+-]+:", re.I),
    "commit": re.compile(r"\b[0-9a-f]{7,40}\b"),
}


def assert_inert(hostile_md: str, benign_md: str, *, allowed_mentions=()):
    hostile, benign = html_of(hostile_md), html_of(benign_md)
    # a name holding backticks may split one code span into several (inert); nothing else differs
    def shape(tags):
        return [t for t in tags if t != "code()"]
    assert shape(hostile.tags) == shape(benign.tags), "hostile text changed the element structure"
    assert set(hostile.hrefs) <= {PAGE}, hostile.hrefs
    text = "".join(hostile.text)
    for mention in allowed_mentions:
        text = text.replace(mention, "")
    for what, pattern in GITHUB_PATTERNS.items():
        found = [m.group(0) for m in pattern.finditer(text)]
        assert not found, f"{what} in text outside code: {found}"
    assert "\r" not in hostile_md and "\u202e" not in hostile_md


def test_escaper_basics():
    assert esc.code("a`b") == "``a`b``" and esc.code("`x`") == "`` `x` ``" and esc.code("a|b") == "`a\\|b`"
    assert esc.fence("a\r```\rb").split("\n") == ["````", "a", "```", "b", "````"]
    assert esc.text("@alice") == "@\u2060alice" and esc.mention("@alice", ping=True) == "@alice"
    assert esc.mention("@alice", ping=False) == "`@alice`" and esc.mention("@bad name", ping=True) == "@\u2060bad name"
    assert esc.mermaid_label('a"] --> x[') == "a__ --_ x_"


def test_comment_is_inert():
    benign = render_markdown(report("benign"), marker=MARKER, page_url=PAGE, mention="none")
    hostile = render_markdown(report(HOSTILE), marker=MARKER, page_url=PAGE, mention="none")
    assert_inert(hostile, benign)


def test_only_validated_handles_are_mentioned():
    hostile = render_markdown(report(HOSTILE), marker=MARKER, page_url=PAGE, mention="all")
    benign = render_markdown(report("benign"), marker=MARKER, page_url=PAGE, mention="all")
    # the one valid handle of the hostile report is meshdiff's own mention; nothing else pings
    assert "@octo-org/finance" in hostile
    assert_inert(hostile, benign.replace("@benign", "@\u2060benign"), allowed_mentions=["@octo-org/finance"])


def test_verdict_naming_a_failing_test_is_inert():
    """Without errors the verdict names the breaking test and the projects: still inert."""
    def heading(word):
        r = report(word)
        r.errors = []
        return render_markdown(r, marker=MARKER, page_url=PAGE, mention="none").split("\n")[1]
    hostile, benign = heading(HOSTILE), heading("benign")
    assert "makes `finance`'s `benign` fail" in benign
    assert_inert(hostile, benign)


def test_check_run_is_inert():
    for render in (check_summary, details_text):
        assert_inert(render([report(HOSTILE)], PAGE), render([report("benign")], PAGE))
    title = verdict_title([report(HOSTILE)])
    assert "\n" not in title and "\r" not in title and len(title) <= 250


def test_annotations_are_plain_and_defused():
    r = report(HOSTILE)
    anns = build_annotations([r], {r.changes[0].file: [1]})
    assert anns and all(a["annotation_level"] == "failure" for a in anns)
    for a in anns:
        for field in ("title", "message"):
            assert "\r" not in a[field] and "\u202e" not in a[field]
            assert not re.search(r"@[a-z]", a[field], re.I), a[field]
        assert "\n" not in a["title"]


def test_mermaid_ids_and_labels_are_safe():
    lines = mermaid.lines(report(HOSTILE))
    body = "\n".join(lines[1:-1])
    assert "<" not in body and "`" not in body and "@" not in body
    for project in ("end", "default", "interpolate", "graph", "style"):
        r = report("benign")
        for i in r.impacts:
            i.project = project
            i.node = i.node.replace(".finance.", f".{project}.")
        text = "\n".join(mermaid.lines(r))
        assert f"subgraph {project}" not in text and re.search(r"subgraph p\d+\[\"" + project, text)


@pytest.mark.parametrize("cut", [200, 2_000])
def test_a_cut_comment_is_still_inert(cut):
    hostile = render_markdown(report(HOSTILE), marker=MARKER, page_url=PAGE, max_chars=cut, mention="none")
    shape = html_of(hostile)
    assert not {t.split("(")[0] for t in shape.tags} & {"img", "script", "h1", "h2", "iframe"}
