import pytest

from bot.commands import HELP_MARKER, help_text, is_bot, may_run, parse_command


@pytest.mark.parametrize("body, name, suggestion", [
    ("/meshdiff rerun", "rerun", None),
    ("  /MeshDiff   RERUN  \nplease", "rerun", None),
    ("/meshdiff", "help", None),
    ("/meshdiff help", "help", None),
    ("/meshdiff rerunn", "unknown", "/meshdiff rerun"),
    ("/meshdif rerun", "unknown", "/meshdiff rerun"),
    ("/meshdiff frobnicate", "unknown", None),
    ("/meshdiff rerun now", "unknown", "/meshdiff rerun"),
])
def test_parse(body, name, suggestion):
    cmd = parse_command(body)
    assert cmd is not None and cmd.name == name and cmd.suggestion == suggestion


@pytest.mark.parametrize("body", [None, "", "LGTM", "please /meshdiff rerun", "/deploy now", "\n\n"])
def test_not_addressed(body):
    assert parse_command(body) is None


def test_bots_and_permissions():
    assert is_bot({"type": "Bot", "login": "x"}) and is_bot({"login": "renovate[bot]", "type": "User"})
    assert not is_bot({"login": "alice", "type": "User"})
    assert may_run("admin") and may_run("write") and may_run("maintain")
    assert not may_run("read") and not may_run("triage") and not may_run("none")


def test_help_text():
    text = help_text(check_name="meshdiff / impact", suggestion="/meshdiff rerun", typed="/meshdiff rerunn`x")
    assert text.startswith(HELP_MARKER) and "Did you mean `/meshdiff rerun`?" in text
    assert "rerunn'x" in text  # backticks from the user are neutralised
