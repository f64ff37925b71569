"""What a person sees in a terminal: progress on stderr (each compile, cached or not, with its
time; lineage; impact), `--quiet`, the report without HTML, errors once.

The terminal runs are real: `meshdiff` in a pseudo-terminal (stdout and stderr both on it),
the bytes it draws read back. The pieces (the observer, the text of the report) are also
tested alone, without dbt.
"""
from __future__ import annotations

import fcntl
import io
import os
import pty
import re
import struct
import subprocess
import sys
import termios

import pytest

from analysis.progress import ADVANCE, END, START, Step
from bot.cli.output import for_terminal
from bot.cli.progress import TerminalProgress, line
from bot.demo import commit_change

_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07|\r")


def in_terminal(args: list[str], cache: str, cwd: str | None = None) -> tuple[int, str]:
    """Run ``meshdiff ARGS`` with stdout and stderr on a 120-column pseudo-terminal; its text."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    env = {**os.environ, "MESHDIFF_CACHE_DIR": cache, "TERM": "xterm-256color", "COLUMNS": "120"}
    proc = subprocess.Popen([sys.executable, "-m", "bot.cli", *args], stdin=subprocess.DEVNULL, stdout=slave,
                            stderr=slave, env=env, cwd=cwd, close_fds=True)
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    code = proc.wait()
    os.close(master)
    return code, _ANSI.sub("", b"".join(chunks).decode("utf-8", "replace"))


# ----------------------------------------------------------------------------- without dbt
def test_a_finished_step_leaves_one_line_with_cache_state_and_time():
    assert re.fullmatch(r"  ✓ compile shop head \(main\) +dbt ran +14\.2 s",
                        line(Step("compile", "shop head (main)", END, seconds=14.24)))
    assert "cached" in line(Step("compile", "finance against base", END, seconds=0.04, cached=True))
    assert "57 nodes" in line(Step("lineage", "base", END, seconds=0.4, total=57, done=57))
    failed = line(Step("compile", "shop head (x)", END, seconds=3, ok=False))
    assert failed.startswith("  ✗ compile shop head (x)") and "failed" in failed


def test_the_observer_draws_live_steps_and_keeps_finished_ones():
    from rich.console import Console

    screen = io.StringIO()
    console = Console(file=screen, force_terminal=True, width=100, color_system=None)
    with TerminalProgress(console) as progress:
        progress(Step("compile", "shop base (main)", START))
        progress(Step("compile", "shop base (main)", END, seconds=1.5, cached=True))
        progress(Step("lineage", "base", START, total=60))
        progress(Step("lineage", "base", ADVANCE, done=25, total=60))
        assert progress.live.tasks[0].completed == 25 and progress.live.tasks[0].total == 60
        progress(Step("lineage", "base", END, seconds=0.3, done=60, total=60))
        assert not progress.live.tasks  # nothing left running
    text = _ANSI.sub("", screen.getvalue())
    assert "✓ compile shop base (main)" in text and "cached" in text and "1.5 s" in text
    assert "✓ lineage base" in text and "60 nodes" in text


REPORT = """### meshdiff impact report

| Project | Owners |
|---|---|
| `finance` | Finance &lt;fin@example.com&gt; |

<details><summary><b>finance</b>: 2 impacted (2 breaking)</summary>

| Node | Why |
|---|---|
| `finance.x` <sub>exposure</sub><br><sub>finance</sub> | reads `a` &amp; `b` |

</details>

<details><summary>Snippet for <code>shop/x.yml</code></summary>

```yaml
a: 1
```

</details>

<details><summary>Picture of the impacted mesh</summary>

```mermaid
graph LR
  n0["x"]
```

</details>

**Errors**

```
shop does not compile: a <b> tag in dbt's own message stays as it is
```
"""


def test_the_report_in_a_terminal_has_no_html():
    text = for_terminal(REPORT)
    assert "&lt;" not in text and "&amp;" not in text and "<details>" not in text and "</summary>" not in text
    assert "| `finance` | Finance <fin@example.com> |" in text
    assert "#### finance: 2 impacted (2 breaking)" in text
    assert "| `finance.x` (exposure) (finance) | reads `a` & `b` |" in text
    assert "#### Snippet for `shop/x.yml`\n\n```yaml\na: 1\n```" in text
    assert "mermaid" not in text and "Picture of the impacted mesh" not in text  # a picture a terminal cannot draw
    assert "a <b> tag in dbt's own message stays as it is" in text  # code blocks are verbatim


# ----------------------------------------------------------------------------- real runs
@pytest.mark.dbt
def test_demo_in_a_terminal_shows_progress_then_the_report(meshdiff_cache, tmp_path):
    code, screen = in_terminal(["demo"], meshdiff_cache, cwd=str(tmp_path))
    assert code == 0, screen
    for step in ("prepare example mesh in a git repository", "compile shop base (main)",
                 "compile shop head (rename-lifetime-value)", "compile finance against base",
                 "compile finance against head", "compile exec_reporting against base",
                 "compile exec_reporting against head", "lineage base", "lineage head", "impact diff and propagation"):
        done = [ln for ln in screen.splitlines() if f"✓ {step}" in ln]
        assert done, f"no finished line for {step!r}:\n{screen}"
        assert re.search(r"\d+\.\d s$", done[-1].rstrip()), done[-1]
        if step.startswith("compile"):
            assert re.search(r"(cached|dbt ran)\s+\d+\.\d s$", done[-1].rstrip()), done[-1]
    report = screen[screen.index("✓ impact"):].split("\n", 1)[1]
    for node in ("customer_segments", "churn_model", "top_customers", "lifetime_value_usd"):
        assert node in report, report  # the report follows the progress
    assert "#### finance" in report and "#### exec_reporting" in report  # its collapsible sections, as headings
    assert not re.search(r"&[a-z]+;|&#\d+;|</?(details|summary|sub|br|code|b)\b", screen), screen
    assert "mermaid" not in screen
    assert os.listdir(tmp_path) == []  # nothing written where it ran

    quiet_code, quiet = in_terminal(["demo", "--quiet"], meshdiff_cache, cwd=str(tmp_path))
    assert quiet_code == 0 and "✓ compile" not in quiet and "#### finance" in quiet


@pytest.mark.dbt
def test_an_error_reaches_the_terminal_once(mesh_repo, meshdiff_cache):
    commit_change(mesh_repo, "term-broken", [("shop/models/marts/customers.sql", "{{ ref('stg_customers') }}",
                                              "{{ ref('stg_customerz') }}")], "broken")
    code, screen = in_terminal(["analyze", "--project", f"{mesh_repo}/shop", "--base", "main", "--head",
                                "term-broken"], meshdiff_cache)
    assert code == 2, screen
    assert screen.count("depends on a node named 'stg_customerz'") == 1, screen
    assert "✗ compile shop head (term-broken)" in screen
    assert "meshdiff: the analysis could not be completed (1 error(s), shown above)" in screen
    assert "Traceback" not in screen
