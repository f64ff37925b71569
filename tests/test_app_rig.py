"""The drills (``python -m bench.drills``) and the end-to-end tests run the App as the README
says to run it: the same gunicorn options, the same worker command."""
import os
import re
import shlex

from tests.app_rig import GUNICORN_ARGS
from tests.paths import ROOT


def _readme() -> str:
    with open(os.path.join(ROOT, "README.md"), encoding="utf-8") as handle:
        return handle.read()


def test_the_rig_runs_gunicorn_with_the_readme_s_options():
    [line] = [ln for ln in _readme().splitlines() if ln.startswith("gunicorn --bind")]
    argv = shlex.split(line)
    assert argv[-1] == "webhooks.app:create_app()"
    options = argv[1:-1]
    bind = options.index("--bind")
    del options[bind:bind + 2]  # the rig binds a spare port
    assert options == GUNICORN_ARGS


def test_the_readme_names_the_drill_command_and_its_figures():
    text = _readme()
    section = text.split("\n## Reliability", 1)[1].split("\n## ", 1)[0]
    assert "python -m bench.drills" in section
    assert re.search(r"p99 [\d.]+ ms", section) and "200" in section
