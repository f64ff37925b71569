"""`meshdiff --version`, and help that says what the README says: the same flags per command,
required flags marked, every default stated (in help and README alike), exit codes, and an
example per command that the parser accepts."""
from __future__ import annotations

import argparse
import os
import re
from importlib import metadata

import pytest

from bot.cli import main
from bot.cli.parser import EXAMPLES, EXIT_CODES, build
from tests.paths import ROOT

COMMANDS = ("analyze", "lineage", "demo", "serve", "worker")


def readme_cli() -> str:
    with open(os.path.join(ROOT, "README.md"), encoding="utf-8") as handle:
        text = handle.read()
    return text[text.index("## The CLI\n"):text.index("\n## Mesh configuration")]


def options(command: str) -> dict[str, argparse.Action]:
    """The flags of ``command`` (long names, without --help) and their actions."""
    sub = build().commands[command]
    return {max(a.option_strings, key=len): a for a in sub._actions
            if a.option_strings and "--help" not in a.option_strings}


def help_of(command: str, capsys) -> str:
    assert main([command, "--help"]) == 0
    return capsys.readouterr().out


def test_version(capsys):
    assert main(["--version"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"meshdiff {metadata.version('meshdiff')} (dbt-core {metadata.version('dbt-core')}")
    assert "dbt-loom" in out and "sqlglot" in out and "Python" in out


@pytest.mark.parametrize("command", COMMANDS)
def test_help_marks_required_flags_states_defaults_exit_codes_and_an_example(command, capsys):
    text = " ".join(help_of(command, capsys).split())  # argparse wraps lines
    for flag, action in options(command).items():
        found = re.search(re.escape(flag) + r"[ ,]", text[text.index("options:"):])
        assert found, flag
        entry = text[text.index("options:") + found.start():][:300]
        if action.required:
            assert "(required)" in entry, flag
        if action.default not in (None, [], False):
            assert f"default: {action.default}" in entry or f"(default: {action.default}" in entry \
                or "default:" in entry, (flag, entry)
    assert "exit codes:" in text and "130 interrupted" in text
    for code, _ in EXIT_CODES[command]:
        assert f" {code} " in text
    assert f"example: {EXAMPLES[command]}" in text
    example = EXAMPLES[command].split()[1:]
    args, extra = build().parse_known_args(example)  # the example is a valid command line
    assert args.command == command and (not extra or command == "worker")


def test_the_project_of_analyze_is_required_unless_a_mesh_file(capsys):
    text = " ".join(help_of("analyze", capsys).split())
    assert "usage: meshdiff analyze (--project DIR | --mesh FILE) --base REF" in text
    assert "the changed project (required unless --mesh)" in text


def readme_flags(command: str) -> set[str]:
    """The flags the README's usage block gives ``command`` (its line and continuation lines)."""
    block = readme_cli().split("```text\n", 1)[1].split("```", 1)[0]
    lines, taking = [], False
    for line in block.splitlines():
        if line.startswith("meshdiff "):
            taking = line.split()[1] == command
            line = line.split("#", 1)[0]
        if taking:
            lines.append(line)
    return set(re.findall(r"(--[a-z][a-z-]+)", " ".join(lines)))


@pytest.mark.parametrize("command", COMMANDS)
def test_the_readme_names_the_flags_the_parser_has(command):
    parser_flags = set(options(command))
    assert readme_flags(command) == parser_flags, (
        f"README names {sorted(readme_flags(command) - parser_flags)} that `meshdiff {command}` lacks, "
        f"and lacks {sorted(parser_flags - readme_flags(command))}")


@pytest.mark.parametrize("command", COMMANDS)
def test_the_readme_states_each_default_the_parser_has(command):
    """Each default of a flag appears in a README sentence about that flag (`serve`'s port...)."""
    text = readme_cli().replace("**", "").replace("`", "")
    sentences = re.split(r"(?<=[.;])\s+|\n- ", text)
    for flag, action in options(command).items():
        if action.default in (None, [], False):
            continue
        value = f"{action.default:g}" if isinstance(action.default, float) else str(action.default)
        assert any(flag in s and "default" in s and value in s for s in sentences), \
            f"the README does not say that {flag} of `meshdiff {command}` defaults to {value}"


def test_the_readme_states_the_exit_codes():
    text = readme_cli()
    assert "**0** nothing blocks · **1** the policy blocks" in text and "**2** the\nanalysis could not be done" in text
    assert "Exit code: **0** the lineage was written · **2** it could not be computed" in text
    quick = open(os.path.join(ROOT, "README.md"), encoding="utf-8").read()
    assert "exits with **0** once\nthe report is shown" in quick and "**2** when the analysis could not be done" in quick
