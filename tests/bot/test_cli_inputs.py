"""Every bad input of the `meshdiff` command: a message naming what is wrong and what to do,
exit code 2, never a traceback, and nothing compiled (all of it is found before any work).

One table: each row is a command line (``{repo}``: a git repository of the example mesh made
for that row, ``{tmp}``: a scratch folder), an optional change to that repository's files,
and the phrases the message must hold. No dbt runs: this file belongs to the fast part.
"""
from __future__ import annotations

import os
import shlex
import subprocess
import sys

import pytest

from bot.cli import main
from bot.demo import init_mesh_repo

LATIN1 = "# Café in Zürich\n"
NO_COMPILE = "the cache must stay empty: the input is refused before any compile"


def prepend(rel: str, text: str, encoding: str):
    """A change to ``{repo}``: ``text`` then the file's own content, saved in ``encoding``."""
    def change(repo: str) -> None:
        path = os.path.join(repo, rel)
        with open(path, encoding="utf-8") as handle:
            old = handle.read()
        with open(path, "w", encoding=encoding) as handle:
            handle.write(text + old)
    return change


def replace_file(rel: str, data: bytes):
    def change(repo: str) -> None:
        with open(os.path.join(repo, rel), "wb") as handle:
            handle.write(data)
    return change


def mesh_file(text: str, encoding: str = "utf-8"):
    return replace_file("mesh.yml", text.encode(encoding))


SHOP = "analyze --project {repo}/shop --base main"
DOWN = SHOP + " --downstream {repo}/finance --downstream {repo}/exec_reporting"
LOOM = "finance/dbt_loom.config.yml"
#: (id, command line, change to the repository or None, phrases the message holds)
CASES = [
    # -- the command itself
    ("no-command", "", None, ["the following arguments are required: COMMAND"]),
    ("unknown-command", "analyse", None, ["invalid choice: 'analyse'"]),
    ("unknown-flag", SHOP + " --bogus", None, ["unrecognized arguments: --bogus", "meshdiff analyze --help"]),
    # -- analyze: projects and refs
    ("no-base", "analyze --project {repo}/shop", None, ["required: --base"]),
    ("no-project", "analyze --base main", None, ["no project to analyse", "pass --project DIR"]),
    ("project-missing", "analyze --project {tmp}/nope --base main", None, ["{tmp}/nope does not exist"]),
    ("project-is-file", "analyze --project {repo}/shop/dbt_project.yml --base main", None,
     ["dbt_project.yml is a file, not a folder"]),
    ("project-not-dbt", "analyze --project {repo} --base main", None,
     ["is not a dbt project: it has no dbt_project.yml"]),
    ("project-outside-git", "analyze --project {tmp}/loose --base main", None, ["is not inside a git checkout"]),
    ("base-missing-ref", "analyze --project {repo}/shop --base nope", None, ["git ref 'nope' does not exist"]),
    ("head-missing-ref", SHOP + " --head nope", None, ["git ref 'nope' does not exist"]),
    ("downstream-missing", SHOP + " --downstream {tmp}/nope", None, ["{tmp}/nope does not exist"]),
    ("upstream-not-dbt", SHOP + " --upstream {tmp}", None, ["is not a dbt project"]),
    ("project-no-name", SHOP, replace_file("shop/dbt_project.yml", b"profile: shop\n"), ["has no `name`"]),
    # -- files in other encodings, or broken
    ("project-latin1", SHOP, prepend("shop/dbt_project.yml", LATIN1, "latin-1"),
     ["shop/dbt_project.yml is not UTF-8 text", "Latin-1", "save it as UTF-8"]),
    ("downstream-project-utf16", DOWN, prepend("finance/dbt_project.yml", "", "utf-16"),
     ["finance/dbt_project.yml is not UTF-8 text", "UTF-16", "iconv -f UTF-16 -t UTF-8"]),
    ("loom-latin1", DOWN, prepend(LOOM, LATIN1, "latin-1"), [f"{LOOM} is not UTF-8 text", "Latin-1"]),
    ("loom-utf16", DOWN, prepend(LOOM, "", "utf-16"), [f"{LOOM} is not UTF-8 text", "UTF-16"]),
    ("loom-empty", DOWN, replace_file(LOOM, b""), [f"{LOOM} is empty", "manifests:"]),
    ("loom-comments-only", DOWN, replace_file(LOOM, b"# nothing yet\n"), [f"{LOOM} is empty"]),
    ("loom-a-list", DOWN, replace_file(LOOM, b"- name: shop\n"), [f"{LOOM} has no `manifests` list"]),
    ("loom-manifests-mapping", DOWN, replace_file(LOOM, b"manifests: {name: shop}\n"),
     ["`manifests` must be a list"]),
    ("loom-entry-no-name", DOWN, replace_file(LOOM, b"manifests:\n  - type: file\n"),
     ["entry 1 of `manifests` has no `name`"]),
    ("loom-bad-yaml", DOWN, replace_file(LOOM, b"manifests: [\n"), [f"{LOOM} is not valid YAML", LOOM + '", line']),
    ("mesh-missing", "analyze --mesh {tmp}/nope.yml --base main", None, ["cannot read --mesh", "No such file"]),
    ("mesh-is-folder", "analyze --mesh {tmp} --base main", None, ["--mesh {tmp} is a folder"]),
    ("mesh-bad-yaml", "analyze --mesh {repo}/mesh.yml --base main", mesh_file("projects: [\n"), ["not valid YAML"]),
    ("mesh-utf16", "analyze --mesh {repo}/mesh.yml --base main", mesh_file("projects:\n  - path: shop\n", "utf-16"),
     ["mesh.yml (--mesh) is not UTF-8 text", "UTF-16"]),
    ("mesh-latin1", "analyze --mesh {repo}/mesh.yml --base main",
     mesh_file("# Café\nprojects:\n  - path: shop\n", "latin-1"), ["(--mesh) is not UTF-8 text", "Latin-1"]),
    # -- analyze: values
    ("format", SHOP + " --format xml", None, ["argument --format: invalid choice: 'xml'"]),
    ("output-missing-folder", SHOP + " --output {tmp}/missing/dir/report.md", None,
     ["--output {tmp}/missing/dir/report.md: the folder {tmp}/missing/dir does not exist", "mkdir -p"]),
    ("output-is-folder", SHOP + " --output {tmp}", None, ["--output {tmp} is a folder"]),
    ("dialect-no-pair", SHOP + " --dialect snowflake", None, ["--dialect 'snowflake' is not PROJECT=VALUE"]),
    ("dialect-unknown", SHOP + " --dialect shop=snowflak", None, ["'snowflak' is not a sqlglot dialect"]),
    ("target-bad", SHOP + " --target shop=-x", None, ["--target shop=-x: '-x' is not a dbt target name"]),
    ("target-no-pair", SHOP + " --target =prod", None, ["--target '=prod' is not PROJECT=VALUE"]),
    ("catalog-missing", SHOP + " --catalog shop={tmp}/nope.json", None, ["cannot read catalog"]),
    ("catalog-other-project", SHOP + " --catalog shopp={tmp}/nope.json", None, ["no project named 'shopp'"]),
    ("catalog-utf16", SHOP + " --catalog shop={repo}/catalog.json",
     replace_file("catalog.json", '{"nodes": {}, "sources": {}}'.encode("utf-16")),
     ["(--catalog shop) is not UTF-8 text", "UTF-16"]),
    ("cache-dir-is-file", SHOP + " --cache-dir {repo}/shop/dbt_project.yml", None, ["is a file, not a folder"]),
    ("cache-dir-under-file", SHOP + " --cache-dir {repo}/shop/dbt_project.yml/cache", None, ["cannot be created"]),
    ("cache-env-is-file", SHOP + " ENV:MESHDIFF_CACHE_DIR={repo}/shop/dbt_project.yml", None,
     ["MESHDIFF_CACHE_DIR", "is a file, not a folder"]),
    *[(f"compile-timeout-{v}", SHOP + f" --compile-timeout {v}", None,
       [f"argument --compile-timeout: '{v}' is not a positive number of seconds"])
      for v in ("-1", "0", "abc", "inf", "nan")],
    *[(f"lineage-timeout-{v}", SHOP + f" --lineage-timeout {v}", None,
       [f"argument --lineage-timeout: '{v}' is not a positive number of seconds"]) for v in ("-5", "x")],
    # -- lineage
    ("lineage-no-project", "lineage", None, ["required: --project"]),
    ("lineage-column", "lineage --project {repo}/shop --column amount", None, ["'amount' is not <unique_id>.<column>"]),
    ("lineage-timeout", "lineage --project {repo}/shop --compile-timeout soon", None, ["'soon' is not a positive"]),
    ("lineage-output", "lineage --project {repo}/shop --output {tmp}/no/such.json", None, ["does not exist"]),
    ("lineage-catalog-missing", "lineage --project {repo}/shop --catalog shop={tmp}/nope.json", None,
     ["cannot read catalog"]),
    ("lineage-catalog-other-project", "lineage --project {repo}/shop --catalog finance={tmp}/nope.json", None,
     ["no project named 'finance' is analysed", "one of: shop"]),
    ("lineage-catalog-not-a-catalog", "lineage --project {repo}/shop --catalog shop={repo}/catalog.json",
     replace_file("catalog.json", b"[1, 2]"), ["(--catalog shop) is not a dbt catalog", "dbt docs generate"]),
    ("lineage-project-latin1", "lineage --project {repo}/shop", prepend("shop/dbt_project.yml", LATIN1, "latin-1"),
     ["is not UTF-8 text"]),
    # -- demo
    ("demo-examples", "demo --examples {tmp}", None, ["--examples {tmp} does not hold the example mesh"]),
    ("demo-format", "demo --format xml", None, ["invalid choice: 'xml'"]),
    ("demo-cache-dir", "demo --cache-dir {repo}/shop/dbt_project.yml", None, ["is a file, not a folder"]),
    # -- serve
    *[(f"serve-port-{v}", f"serve --port {v}", None, [f"argument --port: '{v}' is not a TCP port"])
      for v in ("0", "70000", "http")],
    ("serve-host-empty", "serve --host=", None, ["argument --host: an empty value"]),
]


@pytest.mark.parametrize("case_id,line,change,phrases", CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_named_with_what_to_do_and_exit_2(case_id, line, change, phrases, tmp_path, monkeypatch,
                                                       capsys):
    repo = init_mesh_repo(None, str(tmp_path / "repo"))
    scratch = tmp_path / "scratch"
    (scratch / "loose").mkdir(parents=True)
    (scratch / "loose" / "dbt_project.yml").write_text("name: loose\n")
    if change:
        change(repo)
    cache = tmp_path / "cache"
    monkeypatch.setenv("MESHDIFF_CACHE_DIR", str(cache))
    argv = []
    for word in shlex.split(line.format(repo=repo, tmp=scratch)):
        if word.startswith("ENV:"):
            name, _, value = word[4:].partition("=")
            monkeypatch.setenv(name, value)
        else:
            argv.append(word)
    code = main(argv)
    out, err = capsys.readouterr()
    assert code == 2, (code, err)
    for phrase in phrases:
        assert phrase.format(repo=repo, tmp=scratch) in err, err
    assert "→" in err, f"no hint of what to do:\n{err}"
    assert "Traceback" not in out + err and "internal error" not in err
    assert out == ""
    assert err.count("meshdiff") >= 1 and err == err.strip("\n") + "\n"
    assert not (cache / "compile").exists(), NO_COMPILE
    assert "--upstream" not in err or case_id.startswith("upstream"), "a broken file is not a missing project"


def test_the_installed_entry_point_prints_no_traceback(tmp_path):
    """The same through ``python -m bot.cli`` (a real process, a real stderr): one message."""
    repo = init_mesh_repo(None, str(tmp_path / "repo"))
    prepend("shop/dbt_project.yml", LATIN1, "cp1252")(repo)
    proc = subprocess.run([sys.executable, "-m", "bot.cli", "analyze", "--project", f"{repo}/shop", "--base", "main"],
                          capture_output=True, text=True, env={**os.environ, "MESHDIFF_CACHE_DIR": str(tmp_path / "c")})
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.count("is not UTF-8 text") == 1 and "Traceback" not in proc.stderr


def test_an_unexpected_failure_is_one_line_and_exit_2(monkeypatch, capsys):
    """A bug is not "the policy blocks" (exit 1) and shows no traceback unless MESHDIFF_DEBUG is set."""
    import bot.cli.demo

    def broken(args):
        raise KeyError("boom")

    monkeypatch.setattr(bot.cli.demo, "run", broken)
    monkeypatch.delenv("MESHDIFF_DEBUG", raising=False)
    assert main(["demo"]) == 2
    err = capsys.readouterr().err
    assert "internal error: KeyError: 'boom'" in err and "please report" in err and "Traceback" not in err
    monkeypatch.setenv("MESHDIFF_DEBUG", "1")
    assert main(["demo"]) == 2
    assert "Traceback" in capsys.readouterr().err
