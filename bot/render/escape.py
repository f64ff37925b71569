"""The one escaper for untrusted text: every string that comes from a PR or a project.

Node and column names, owners, descriptions, branch names, file paths, dbt's error text: a PR
controls all of them. Whatever reaches GitHub goes through one of these functions:

- :func:`text`   prose in Markdown (a table cell, a bullet): every ASCII punctuation character is
  backslash-escaped (no emphasis, link, image, HTML, heading, list, table or entity survives), and
  GitHub's own post-processing is defused with an invisible word joiner (U+2060) after ``@``
  (mentions, e-mail autolinks), ``#`` (issue references), ``:`` (emoji, ``https://``), in ``www.``
  and inside long hex runs (commit links);
- :func:`code`   an inline code span whose backtick fence is longer than any backtick run inside
  (``|`` escaped for tables; GitHub processes nothing inside code);
- :func:`fence`  a fenced block (dbt errors, snippets) whose fence is longer than any backtick run
  inside, after ``\\r`` is normalised (a ``\\r`` cannot start a line that closes the fence);
- :func:`plain`  plain-text fields (check-run title, annotation title and message): one line or
  several, controls removed, mentions defused;
- :func:`mermaid_label` a Mermaid label reduced to a safe alphabet.

All of them first :func:`normalize`: ``\\r\\n`` and ``\\r`` become ``\\n``; other control
characters, zero-width characters and bidirectional overrides are removed.

Mentions meshdiff means (validated handles, see ``analysis.dbt.manifest.handle``) are built by
:func:`mention`, never by passing text through.
"""
from __future__ import annotations

import re

WJ = "\u2060"  # word joiner: invisible, and no GitHub pattern matches across it
_CONTROLS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u200b-\u200f\u2028\u2029\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]")
#: characters with an inline meaning in GitHub Markdown (``$``: math); escaped wherever they are
_INLINE = re.compile(r"([\\`*_\[\]<>!|~&$])")
#: what starts a block (heading, quote, list, setext underline) when it comes first
_LEADING = re.compile(r"^(\s*)([#>+=-]|\d+(?=[.)]))")
_DEFUSE = [
    (re.compile(r"@"), "@" + WJ),
    (re.compile(r"#"), "#" + WJ),
    (re.compile(r":(?=[A-Za-z0-9_+/-])"), ":" + WJ),
    (re.compile(r"(?i)\b(www)\."), "\\1" + WJ + "."),
    (re.compile(r"(?i)[0-9a-f]{7,}"), lambda m: WJ.join(m.group(0)[i:i + 6] for i in range(0, len(m.group(0)), 6))),
]
_HANDLE = re.compile(r"^@[A-Za-z0-9](?:[A-Za-z0-9]|-(?=[A-Za-z0-9])){0,38}(?:/[A-Za-z0-9][A-Za-z0-9_.-]{0,99})?$")
_LANG = re.compile(r"^[a-z0-9_+-]{0,20}$")
_MERMAID_SAFE = re.compile(r"[^A-Za-z0-9_. -]")


def normalize(value) -> str:
    """``str(value)`` with ``\\r`` normalised to ``\\n`` and control, zero-width and bidi
    characters removed (tabs and newlines stay)."""
    s = "" if value is None else str(value)
    s = s.replace("\r\n", "\n").replace("\r", "\n")
    return _CONTROLS.sub("", s)


def _one_line(s: str) -> str:
    return " ".join(s.split()) if ("\n" in s or "\t" in s) else s


def _defuse(s: str) -> str:
    for pattern, repl in _DEFUSE:
        s = pattern.sub(repl, s)
    return s


def text(value, *, limit: int | None = None, strip: bool = True) -> str:
    """Inert one-line Markdown prose for ``value`` (safe in a table cell and a bullet): the
    characters with an inline meaning are backslash-escaped everywhere, a block marker at the
    start too (``\\#``, ``\\-``, ``1\\.``), and GitHub's autolinks and mentions defused."""
    s = _one_line(normalize(value))
    s = s.strip() if strip else s
    if limit is not None and len(s) > limit:
        s = s[: max(limit - 1, 0)].rstrip() + "…"
    s = _INLINE.sub(r"\\\1", s)
    m = _LEADING.match(s)
    if m:
        s = m.group(1) + ("\\" + m.group(2) if not m.group(2).isdigit() else m.group(2) + "\\") + s[m.end():]
    return _defuse(s)


def code(value, *, limit: int | None = None) -> str:
    """An inline code span showing ``value`` literally (one line; ``|`` escaped for tables)."""
    s = _one_line(normalize(value))
    if limit is not None and len(s) > limit:
        s = s[: max(limit - 1, 0)] + "…"
    if not s:
        return '`""`'
    if not s.strip():
        return f"`{s}`"
    run = max((len(m) for m in re.findall(r"`+", s)), default=0)
    tick = "`" * (run + 1)
    pad = " " if (s[0] in "` " or s[-1] in "` ") else ""
    return f"{tick}{pad}{s.replace('|', chr(92) + '|')}{pad}{tick}"


def fence(value, lang: str = "") -> str:
    """A fenced code block showing ``value`` literally; the fence is longer than any backtick
    run inside, so no line of ``value`` can close it."""
    s = normalize(value).expandtabs(4).strip("\n")
    run = max((len(m) for m in re.findall(r"`+", s)), default=0)
    tick = "`" * max(3, run + 1)
    lang = lang if _LANG.match(lang or "") else ""
    return f"{tick}{lang}\n{s}\n{tick}"


def plain(value, *, limit: int | None = None, one_line: bool = False) -> str:
    """Plain text (GitHub shows it as text: check-run title, annotation title and message):
    normalised, mentions defused, cut to ``limit`` characters."""
    s = normalize(value)
    if one_line:
        s = _one_line(s).strip()
    s = s.replace("@", "@" + WJ)
    if limit is not None and len(s) > limit:
        s = s[: max(limit - 1, 0)].rstrip() + "…"
    return s


def reason(value, *, limit: int | None = None) -> str:
    """A sentence meshdiff wrote around untrusted names, which it wraps in backticks: the parts
    between backticks become code spans, the rest prose. Whatever the names hold (even
    backticks), every part goes through :func:`code` or :func:`text`."""
    s = _one_line(normalize(value)).strip()
    if limit is not None and len(s) > limit:
        s = s[: max(limit - 1, 0)].rstrip() + "…"
    parts = s.split("`")
    if len(parts) % 2 == 0:  # an odd number of backticks: the last one is text
        parts[-2] = parts[-2] + "`" + parts.pop()
    out = []
    for i, part in enumerate(parts):
        if i % 2:
            out.append(code(part))
        elif part:
            out.append(text(part, strip=False) if out else text(part, strip=False).lstrip())
    return "".join(out)


def html_text(value, *, limit: int | None = None) -> str:
    """Text inside raw HTML (a ``<summary>``): HTML-escaped, mentions and autolinks defused."""
    import html

    s = _one_line(normalize(value)).strip()
    if limit is not None and len(s) > limit:
        s = s[: max(limit - 1, 0)].rstrip() + "…"
    return _defuse(html.escape(s, quote=True))


def html_code(value, *, limit: int | None = None) -> str:
    """``<code>`` inside raw HTML: HTML-escaped (GitHub processes nothing inside code)."""
    import html

    s = _one_line(normalize(value))
    if limit is not None and len(s) > limit:
        s = s[: max(limit - 1, 0)] + "…"
    return f"<code>{html.escape(s, quote=True)}</code>"


def is_handle(value) -> bool:
    return isinstance(value, str) and bool(_HANDLE.match(value))


def mention(handle: str, *, ping: bool) -> str:
    """A validated GitHub handle: a real mention when ``ping``, else shown in code (no ping).
    Anything that is not a handle is escaped as text."""
    if not is_handle(handle):
        return text(handle)
    return handle if ping else code(handle)


def mermaid_label(value, *, limit: int = 40) -> str:
    """A Mermaid node or subgraph label: letters, digits, ``_ . -`` and spaces only."""
    s = _MERMAID_SAFE.sub("_", _one_line(normalize(value)))
    return s if len(s) <= limit else s[: limit - 1] + "…"


def json_for_script(data: str) -> str:
    """JSON text safe inside ``<script type="application/json">``: no ``<``, ``>``, ``&``,
    U+2028 or U+2029 left (escaped as ``\\uXXXX``, which JSON reads back unchanged)."""
    return (data.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
            .replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))
