"""Owners from a repository's CODEOWNERS, as GitHub reads it.

GitHub takes the first of ``.github/CODEOWNERS``, ``CODEOWNERS``, ``docs/CODEOWNERS`` and ignores
a file of 3 MB or more. Each line is a pattern and its owners (``@user``, ``@org/team`` or an
e-mail address); ``#`` starts a comment; the **last** matching line wins, and a line without
owners leaves its files unowned. Patterns are gitignore's, as GitHub documents them: ``*.sql``
anywhere, ``/models/`` or ``models/marts`` anchored at the root, ``apps/`` any folder of that name
with everything below it, ``docs/*`` the files of ``docs`` but not of its subfolders, ``**``
any number of folders; ``!`` and ``[ ]`` are not supported (such a line is skipped, as GitHub
skips it). Only owners that are valid GitHub handles are kept (e-mail addresses are never shown
or mentioned).

:func:`parse`, :func:`owners_of` and :func:`merge_handles` are pure; :func:`read_codeowners` reads a checkout's file through
:func:`analysis.dbt.paths.read_inside` (never through a link leaving the checkout).
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass

from analysis.dbt import handle, read_inside
from analysis.store import decode_text

#: where GitHub looks, in its order
LOCATIONS = (".github/CODEOWNERS", "CODEOWNERS", "docs/CODEOWNERS")
#: GitHub ignores a CODEOWNERS file of this size or more
MAX_BYTES = 3 << 20


@dataclass(frozen=True)
class Rule:
    pattern: str
    regex: re.Pattern
    #: the pattern names folders only (a trailing ``/``)
    folders_only: bool
    #: a folder the pattern matches owns what is below it (not for ``docs/*``)
    covers_below: bool
    handles: tuple[str, ...]


@dataclass(frozen=True)
class CodeOwners:
    #: the file it was read from, relative to the checkout
    path: str
    rules: tuple[Rule, ...]


def _translate(body: str) -> str:
    out = []
    i = 0
    while i < len(body):
        if body.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif body.startswith("/**", i) and i + 3 == len(body):
            out.append("/.*")
            i += 3
        elif body.startswith("**", i):
            out.append(".*")
            i += 2
        elif body[i] == "*":
            out.append("[^/]*")
            i += 1
        elif body[i] == "?":
            out.append("[^/]")
            i += 1
        elif body[i] == "\\" and i + 1 < len(body):
            out.append(re.escape(body[i + 1]))
            i += 2
        else:
            out.append(re.escape(body[i]))
            i += 1
    return "".join(out)


def rule(pattern: str, owners: list[str]) -> Rule | None:
    """One line's rule, or ``None`` for a pattern GitHub does not support."""
    if pattern.startswith("!") or "[" in pattern or "]" in pattern:
        return None
    folders_only = pattern.endswith("/") and pattern != "/"
    body = pattern.rstrip("/") if folders_only else pattern
    anchored = body.startswith("/") or "/" in body.strip("/")
    body = body.lstrip("/")
    if not body:
        return None
    regex = ("" if anchored else "(?:.*/)?") + _translate(body)
    handles = tuple(dict.fromkeys(h for o in owners if o.startswith("@") and (h := handle(o))))
    return Rule(pattern, re.compile(regex + r"\Z", re.DOTALL), folders_only, not body.endswith("/*"), handles)


def parse(text: str, path: str = "CODEOWNERS") -> CodeOwners:
    rules = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        tokens = re.split(r"(?<!\\)\s+", line)
        owners = []
        for token in tokens[1:]:
            if token.startswith("#"):
                break
            owners.append(token)
        if (found := rule(tokens[0], owners)) is not None:
            rules.append(found)
    return CodeOwners(path, tuple(rules))


def _matches(r: Rule, path: str) -> bool:
    parts = path.split("/")
    if not r.folders_only and r.regex.match(path):
        return True
    if not r.covers_below:
        return False
    return any(r.regex.match("/".join(parts[:n])) for n in range(1, len(parts)))


def owners_of(codeowners: CodeOwners, path: str) -> tuple[str, ...]:
    """The handles owning ``path`` (relative to the repository root, ``/``-separated): the last
    matching rule's, ``()`` when none matches or it lists no handle."""
    path = path.strip("/")
    for r in reversed(codeowners.rules):
        if _matches(r, path):
            return r.handles
    return ()


def read_codeowners(checkout: str) -> CodeOwners | None:
    """The CODEOWNERS of the checkout at ``checkout`` (GitHub's first location that exists), or
    ``None`` when it has none. A file GitHub would ignore (3 MB or more) or a link leaving the
    checkout raises :class:`AnalysisError` naming it."""
    for rel in LOCATIONS:
        if not os.path.lexists(os.path.join(checkout, rel)):
            continue
        data = read_inside(checkout, rel, limit=MAX_BYTES - 1, what=rel)
        return parse(decode_text(data, rel), rel)
    return None


def merge_handles(*groups) -> tuple[str, ...]:
    """Handles of several sources in order, once each (GitHub handles ignore case)."""
    seen: dict[str, str] = {}
    for group in groups:
        for h in group:
            seen.setdefault(h.lower(), h)
    return tuple(seen.values())
