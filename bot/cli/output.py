"""Where a report goes: to ``--output FILE`` or stdout, as markdown or JSON; the errors of an
analysis reach the terminal once, as plain text.

The markdown is written for GitHub (HTML ``<details>``, entities, a Mermaid picture). On an
interactive terminal it is shown as text: entities decoded, collapsible sections as plain
headings, the picture left out. Files and pipes get the markdown exactly as rendered.
"""
from __future__ import annotations

import html
import json
import re
import sys

_TAG = re.compile(r"</?(?:b|i|em|strong|sub|sup|summary|details)\s*/?>", re.I)
#: inline HTML with a plain-text equivalent: code spans, small print, line breaks in cells
_INLINE = ((re.compile(r"</?code>", re.I), "`"), (re.compile(r"<br\s*/?>", re.I), " "),
           (re.compile(r"\s*<sub>", re.I), " ("), (re.compile(r"</sub>", re.I), ")"))
_SUMMARY = re.compile(r"^\s*<details>\s*<summary>(.*?)</summary>\s*$", re.I)


def render(report, fmt: str) -> str:
    if fmt == "json":
        return json.dumps(report.to_dict(), indent=2) + "\n"
    if fmt == "html":
        from bot.page.build import build_page

        return build_page(report)
    from bot.render import render_markdown

    return render_markdown(report, max_chars=10_000_000)


def for_terminal(markdown: str) -> str:
    """The markdown as a person reads it in a terminal: no HTML tags or entities, no Mermaid.
    Code blocks (dbt's messages) are kept verbatim."""
    out: list[str] = []
    section: list[str] | None = None  # lines of the open <details> section, heading first
    lines = iter(markdown.splitlines())
    for line in lines:
        stripped = line.strip()
        target = out if section is None else section
        if stripped.startswith("```"):
            block = [line] + _until_fence(lines)
            if stripped[3:].strip().lower() != "mermaid":
                target += block
            continue
        summary = _SUMMARY.match(line)
        if summary:
            section = ["#### " + _plain(summary.group(1)).strip()]
        elif stripped.lower() == "</details>" and section is not None:
            if any(ln.strip() for ln in section[1:]):  # a section left empty (the picture) goes
                out.extend(section)
            section = None
        else:
            target.append(_plain(line))
    out.extend(section or [])
    return re.sub(r"\n{3,}", "\n\n", "\n".join(out)).rstrip() + "\n"


def _plain(text: str) -> str:
    for pattern, replacement in _INLINE:
        text = pattern.sub(replacement, text)
    return html.unescape(_TAG.sub("", text))


def _until_fence(lines) -> list[str]:
    """The lines of a fenced code block after its opening line, up to its closing fence."""
    block = []
    for line in lines:
        block.append(line)
        if line.strip().startswith("```") and not line.strip().strip("`"):
            break
    return block


def write(text: str, output: str | None) -> None:
    if output:
        with open(output, "w", encoding="utf-8") as handle:
            handle.write(text)
    else:
        sys.stdout.write(text)
        sys.stdout.flush()


def to_terminal(output: str | None) -> bool:
    return output is None and sys.stdout.isatty()


def deliver(report, fmt: str, output: str | None) -> None:
    """Write ``report``; print its errors on stderr unless the terminal shows them already."""
    text = render(report, fmt)
    shown = to_terminal(output) and fmt == "markdown"
    write(for_terminal(text) if shown else text, output)
    if not report.errors:
        return
    if shown:
        print(f"meshdiff: the analysis could not be completed ({len(report.errors)} error(s), shown above)",
              file=sys.stderr)
    else:
        for error in report.errors:
            print(f"meshdiff: {error}", file=sys.stderr)
