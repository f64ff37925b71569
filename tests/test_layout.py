"""The layout's rules, read off the syntax trees of every module of analysis/, bot/ and webhooks/.

1. ``analysis/`` imports nothing of the App (``bot``, ``webhooks``) nor its libraries (Flask,
   Celery, PyGithub, Redis...); ``bot/`` imports nothing of ``webhooks/``.
2. Code outside a subpackage (``analysis.dbt``, ``analysis.lineage``, ``analysis.store``,
   ``analysis.impact``, ``bot.jobs``, ``bot.github``) imports the public names its ``__init__``
   exports (:mod:`analysis.exports`), never its modules; and only names it exports.
3. Inside ``analysis``, dependencies point one way: pipeline -> impact -> lineage -> dbt ->
   store, with the shared modules errors, report, exports, progress (leaves) and mesh (projects
   and the node graph, over dbt); no cycle.

Every import counts, at module level or inside a function (lazy imports run later, and a
reader follows them too). Tests and ``bench/`` may reach into modules (they measure and test
them from inside) and are not checked. The rules are checked on the repository and, to prove
that they can fail, on a small tree that breaks each of them.
"""
from __future__ import annotations

import ast
import os
import re
from dataclasses import dataclass

import pytest

from tests.paths import ROOT

CHECKED = ("analysis", "bot", "webhooks")
SUBPACKAGES = ("analysis.dbt", "analysis.lineage", "analysis.store", "analysis.impact", "bot.jobs", "bot.github")
#: top-level package -> modules (and their submodules) it must not import
FORBIDDEN = {
    "analysis": {"bot", "webhooks", "flask", "werkzeug", "gunicorn", "celery", "kombu", "redis", "github", "jwt"},
    "bot": {"webhooks"},
}
#: the parts of ``analysis`` -> the parts each may import (pipeline -> impact -> lineage -> dbt -> store)
LEAVES = {"errors", "report", "exports", "progress"}
LAYERS = {
    "pipeline": {"impact", "lineage", "compiles", "dbt", "store", "mesh", *LEAVES},
    "compiles": {"dbt", *LEAVES},
    "impact": {"lineage", "dbt", "store", "mesh", *LEAVES},
    "lineage": {"dbt", "store", "mesh", *LEAVES},
    "mesh": {"dbt", *LEAVES},
    "dbt": {"store", *LEAVES},
    "store": {*LEAVES},
    **{leaf: LEAVES - {leaf} for leaf in LEAVES},
}
#: (file, module) -> why it may cross a rule. Each must still be true (a stale entry fails).
EXCEPTIONS = {
    ("bot/cli/service.py", "webhooks.app"): "`meshdiff serve` starts the web process: the command line runs "
                                            "all three processes (analyze, serve, worker)",
}


@dataclass(frozen=True)
class Import:
    file: str  # relative to the root, with "/"
    line: int
    module: str  # absolute
    names: tuple[str, ...] = ()  # for ``from module import names``


def module_of(file: str) -> str:
    parts = file[:-3].split("/")
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def python_files(root: str) -> list[str]:
    out = []
    for top in CHECKED:
        for dirpath, dirnames, filenames in os.walk(os.path.join(root, top)):
            dirnames[:] = sorted(d for d in dirnames if d != "__pycache__")
            out += [os.path.relpath(os.path.join(dirpath, f), root).replace(os.sep, "/")
                    for f in sorted(filenames) if f.endswith(".py")]
    return out


def imports_of(root: str, file: str) -> list[Import]:
    with open(os.path.join(root, file), encoding="utf-8") as handle:
        tree = ast.parse(handle.read(), file)
    package = module_of(file) if file.endswith("__init__.py") else module_of(file).rpartition(".")[0]
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [Import(file, node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if node.level:  # relative: from the file's package, up level - 1
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join([*base, module] if module else base)
            out.append(Import(file, node.lineno, module, tuple(alias.name for alias in node.names)))
    return out


def public_names(root: str, package: str) -> set[str]:
    """The names ``package``'s ``__init__`` exports: the literal dict given to ``public_names``."""
    path = os.path.join(root, *package.split("."), "__init__.py")
    with open(path, encoding="utf-8") as handle:
        tree = ast.parse(handle.read(), path)
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "public_names":
            return {name for names in ast.literal_eval(node.args[1]).values() for name in names}
    raise AssertionError(f"{path} does not export its public names with analysis.exports.public_names")


def submodules(root: str, package: str) -> set[str]:
    folder = os.path.join(root, *package.split("."))
    return {name[:-3] for name in os.listdir(folder) if name.endswith(".py") and name != "__init__.py"} | {
        name for name in os.listdir(folder) if os.path.isfile(os.path.join(folder, name, "__init__.py"))}


def within(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def part_of_analysis(module: str, names: tuple[str, ...] = ()) -> list[str]:
    """The parts of ``analysis`` (subpackage or top-level module) an import of ``module`` uses."""
    parts = module.split(".")
    if parts[0] != "analysis":
        return []
    if len(parts) > 1:
        return [parts[1]]
    return list(names)  # from analysis import errors, report


def violations(root: str) -> list[str]:
    found: list[str] = []
    used_exceptions = set()
    publics = {p: public_names(root, p) for p in SUBPACKAGES}
    modules = {p: submodules(root, p) for p in SUBPACKAGES}
    edges: dict[str, set[str]] = {}
    for file in python_files(root):
        here = module_of(file)
        for imp in imports_of(root, file):
            where = f"{file}:{imp.line}: "
            targets = [imp.module] + [f"{imp.module}.{n}" for n in imp.names]
            # 1. forbidden directions
            for banned in FORBIDDEN.get(here.split(".")[0], ()):
                if within(imp.module, banned):
                    if (file, imp.module) in EXCEPTIONS:
                        used_exceptions.add((file, imp.module))
                        continue
                    found.append(where + f"{here.split('.')[0]}/ imports {imp.module} (forbidden: {banned})")
            # 2. another subpackage's modules, or names it does not export
            for package in SUBPACKAGES:
                if within(here, package) or not any(within(t, package) for t in targets):
                    continue
                if imp.module != package:
                    if within(imp.module, package):
                        found.append(where + f"imports module {imp.module}: use the public names of {package}")
                    continue
                for name in imp.names:
                    if name in modules[package]:
                        found.append(where + f"imports module {package}.{name}: use the public names of {package}")
                    elif name not in publics[package]:
                        found.append(where + f"imports {name} from {package}, which does not export it")
            # 3. layers of analysis
            if here.split(".")[0] == "analysis":
                mine = part_of_analysis(here)
                for part in part_of_analysis(imp.module, imp.names):
                    if mine and part != mine[0]:
                        edges.setdefault(mine[0], set()).add(part)
                        if part not in LAYERS.get(mine[0], set()):
                            found.append(where + f"analysis.{mine[0]} imports analysis.{part}: dependencies point "
                                                 "pipeline -> impact -> lineage -> dbt -> store")
    found += [f"cycle between parts of analysis: {' -> '.join(c)}" for c in cycles(edges)]
    found += [f"{file}: the exception for {module} is no longer needed: remove it from EXCEPTIONS"
              for file, module in set(EXCEPTIONS) - used_exceptions if os.path.exists(os.path.join(root, file))]
    return found


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """One cycle through each part that is on a cycle (depth-first search)."""
    out, done = [], set()

    def visit(node: str, path: list[str]) -> None:
        for nxt in sorted(edges.get(node, ())):
            if nxt in path:
                out.append(path[path.index(nxt):] + [nxt])
            elif nxt not in done:
                visit(nxt, path + [nxt])
        done.add(node)

    for start in sorted(edges):
        if start not in done:
            visit(start, [start])
    return out


def test_the_repository_follows_the_layout():
    found = violations(ROOT)
    assert not found, "\n".join(found)


def test_public_names_are_importable():
    """What each ``__init__`` exports exists (a typo would only fail where it is first used)."""
    import importlib

    for package in SUBPACKAGES:
        module = importlib.import_module(package)
        assert sorted(module.__all__) == sorted(public_names(ROOT, package))
        for name in module.__all__:
            assert getattr(module, name) is not None, f"{package}.{name}"


# -- the rules can fail -----------------------------------------------------------------------
def _tree(tmp_path, files: dict[str, str]) -> str:
    base = {f"{p.replace('.', '/')}/__init__.py": f"public_names(__name__, {{'mod': ['Public']}})\n"
            for p in SUBPACKAGES}
    base.update({f"{p.replace('.', '/')}/mod.py": "Public = 1\n" for p in SUBPACKAGES})
    base.update({f"{top}/__init__.py": "" for top in CHECKED})
    for path, text in {**base, **files}.items():
        target = tmp_path / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
    return str(tmp_path)


@pytest.mark.parametrize("path, text, expected", [
    ("analysis/lineage/x.py", "def f():\n    import flask\n", "analysis/ imports flask"),
    ("analysis/report.py", "from bot.jobs import Public\n", "analysis/ imports bot.jobs"),
    ("analysis/report.py", "from github import Github\n", "analysis/ imports github"),
    ("analysis/dbt/x.py", "import celery.exceptions\n", "analysis/ imports celery.exceptions"),
    ("bot/render.py", "from webhooks.app import create_app\n", "bot/ imports webhooks.app"),
    ("bot/render.py", "from bot.jobs.mod import Public\n", "imports module bot.jobs.mod"),
    ("webhooks/app.py", "import bot.github.mod\n", "imports module bot.github.mod"),
    ("analysis/pipeline.py", "from analysis.lineage import mod\n", "imports module analysis.lineage.mod"),
    ("analysis/pipeline.py", "from analysis.lineage import Private\n", "which does not export it"),
    ("analysis/impact/x.py", "from ..lineage.mod import Public\n", "imports module analysis.lineage.mod"),
    ("analysis/dbt/x.py", "from analysis.lineage import Public\n", "analysis.dbt imports analysis.lineage"),
    ("analysis/store/x.py", "from analysis import mesh\n", "analysis.store imports analysis.mesh"),
    ("analysis/errors.py", "from analysis.report import Report\n", "cycle between parts of analysis"),
])
def test_each_rule_can_fail(tmp_path, path, text, expected):
    files = {path: text}
    if expected.startswith("cycle"):
        files["analysis/report.py"] = "from analysis.errors import AnalysisError\n"
    found = violations(_tree(tmp_path, files))
    assert any(expected in v for v in found), found


def test_a_clean_tree_passes_and_siblings_may_import_each_other(tmp_path):
    root = _tree(tmp_path, {
        "analysis/lineage/x.py": "from analysis.lineage.mod import Public\nfrom . import mod\n",
        "analysis/impact/x.py": "from analysis.lineage import Public\nfrom analysis import errors, report\n",
        "bot/cli/service.py": "def serve():\n    from webhooks.app import serve\n",
        "webhooks/app.py": "from bot.jobs import Public\n",
    })
    assert violations(root) == []
    os.remove(os.path.join(root, "bot", "cli", "service.py"))
    assert violations(root) == []  # an exception whose file is gone is not reported either


# -- the README's Architecture section says the tree as it is -----------------------------------
def architecture_problems(readme: str, root: str) -> list[str]:
    """What the README's "Architecture" section gets wrong about the tree at ``root``: a path it
    names that does not exist, a subpackage or top-level module of analysis/ or bot/ its tree
    leaves out."""
    start = readme.index("\n## Architecture\n")
    end = readme.find("\n## ", start + 1)
    section = readme[start:end if end != -1 else len(readme)]
    tree = section.split("```\n", 2)[1]
    problems = []
    named = set()
    for path in re.findall(r"`((?:analysis|bot|webhooks|tests)/[\w/.…-]*)`", section):
        path = path.rstrip("…").rstrip("/")
        named.add(path)
        if not os.path.exists(os.path.join(root, path)):
            problems.append(f"the Architecture section names {path}, which does not exist")
    top = ""
    for line in tree.splitlines():
        words = line.split()
        if not words:
            continue
        if not line.startswith(" "):
            top = words[0].rstrip("/")
            continue
        for word in words:
            if word.endswith("/") or word.endswith(".py"):
                named.add(f"{top}/{word.rstrip('/')}")
            else:
                break  # the description starts
    for package in ("analysis", "bot"):
        for name in sorted(os.listdir(os.path.join(root, package))):
            path = f"{package}/{name}"
            is_package = os.path.isfile(os.path.join(root, path, "__init__.py"))
            if (is_package or (name.endswith(".py") and name != "__init__.py")) and path not in named:
                problems.append(f"the Architecture section's tree leaves out {path}")
    return problems


def test_the_readme_architecture_section_matches_the_tree():
    with open(os.path.join(ROOT, "README.md"), encoding="utf-8") as handle:
        assert architecture_problems(handle.read(), ROOT) == []


def test_the_architecture_check_can_fail(tmp_path):
    readme = ("# x\n\n## Architecture\n\n```\nanalysis/\n  pipeline.py   the entry point\n  dbt/   compiles\n"
              "bot/\n  tasks.py  tasks\n```\n\nSee `bot/gone.py`.\n\n## Tests\n")
    for path in ("analysis/pipeline.py", "analysis/mesh.py", "analysis/dbt/__init__.py", "bot/tasks.py"):
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text("")
    problems = architecture_problems(readme, str(tmp_path))
    assert problems == ["the Architecture section names bot/gone.py, which does not exist",
                        "the Architecture section's tree leaves out analysis/mesh.py"]
