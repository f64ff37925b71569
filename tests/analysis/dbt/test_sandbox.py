"""The runner of every untrusted invocation (no dbt needed): environment, limits, output, policy.

- the child's environment is an allow-list (a secret of the parent never reaches it);
- on its time limit the whole process group is killed (a forked grandchild too);
- memory, CPU time, file size, process count and the writable folder's size are bounded, and
  the result says which limit stopped the run;
- output is read while the child runs and kept to a bounded head and tail;
- the policy: ``required`` refuses where the host cannot make the sandbox (saying what it lacks),
  ``auto`` warns once and runs unsandboxed, ``off`` never probes.
"""
import json
import os
import sys
import time

import pytest

from analysis.dbt import sandbox
from analysis.dbt.fence import Fence
from analysis.dbt.sandbox import Limits, SandboxConfig, SandboxError, Status

SECRETS = {"MESHDIFF_PRIVATE_KEY": "-----BEGIN KEY-----zq9", "GITHUB_TOKEN": "ghs_secret_zq9",
           "AWS_SECRET_ACCESS_KEY": "aws-zq9-secret", "DBT_ENV_SECRET_PASSWORD": "hunter2-zq9",
           "MESHDIFF_REDIS_URL": "redis://secret-zq9@host/0"}


@pytest.fixture
def secrets(monkeypatch):
    for key, value in SECRETS.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("LANG", "C.UTF-8")


def _fence(tmp_path, **kw) -> Fence:
    out = tmp_path / "out"
    out.mkdir(exist_ok=True)
    return Fence(writable=str(out), uid=sandbox.sandbox_uid(), gid=sandbox.sandbox_uid(), **kw)


@pytest.mark.parametrize("fenced", [False, True], ids=["unsandboxed", "sandboxed"])
def test_a_secret_of_the_parent_never_reaches_the_child(tmp_path, secrets, fenced):
    fence = _fence(tmp_path) if fenced else None
    home = fence.writable if fence else str(tmp_path)
    env = sandbox.sandbox_env(home, {"DBT_PROFILES_DIR": "/p"})
    script = "import json, os; print(json.dumps({'env': dict(os.environ), 'cwd': os.getcwd()}))"
    result = sandbox.run([sys.executable, "-c", script], cwd=home, env=env, timeout_s=60, fence=fence)
    assert result.ok, result.output
    seen = json.loads(result.output)
    assert not set(SECRETS) & set(seen["env"])
    assert not any(v in result.output for v in SECRETS.values())
    assert seen["env"]["HOME"] == home and seen["env"]["DBT_PROFILES_DIR"] == "/p"
    assert seen["env"]["LANG"] == "C.UTF-8"  # locale is allow-listed
    assert set(seen["env"]) <= {"PATH", "HOME", "PYTHONDONTWRITEBYTECODE", "PYTHONUNBUFFERED", "NO_COLOR", "LANG",
                                "LC_ALL", "LC_CTYPE", "TZ", "MALLOC_ARENA_MAX", "DBT_PROFILES_DIR", "PWD"}
    assert os.path.realpath(seen["cwd"]) == os.path.realpath(home)


def _state(pid: int) -> str | None:
    """Process state letter from /proc (``None``: the process is gone)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return None


def test_time_limit_kills_the_whole_process_group(tmp_path):
    env = sandbox.sandbox_env(str(tmp_path))
    start = time.monotonic()
    result = sandbox.run(["sh", "-c", "sleep 3600 & echo $!; echo $$; sleep 3600"], cwd=str(tmp_path), env=env,
                         timeout_s=0.5)
    assert result.timed_out and not result.ok
    assert time.monotonic() - start < 600  # it did not wait for the hour-long sleeps (however busy the machine)
    pids = [int(p) for p in result.output.split()]
    assert len(pids) == 2  # the forked sleep and the shell
    deadline = time.monotonic() + 120  # killed processes vanish at once; a busy machine only delays the look
    while any(_state(p) not in (None, "Z") for p in pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert [_state(p) in (None, "Z") for p in pids] == [True, True], "a process of the group survived"


def test_time_limit_stops_a_sandboxed_run_and_everything_in_it(tmp_path):
    fence = _fence(tmp_path)
    marker = os.path.join(fence.writable, "alive")
    script = f"while true; do date +%s%N > {marker}; sleep 0.05; done & sleep 600"
    result = sandbox.run(["sh", "-c", script], cwd=fence.writable, env=sandbox.sandbox_env(fence.writable),
                         timeout_s=1.5, fence=fence)
    assert result.timed_out and not result.ok
    stamp = open(marker).read()
    time.sleep(0.6)
    assert open(marker).read() == stamp, "a process of the sandbox kept running after the time limit"


def test_output_is_returned_and_failure_is_not_ok(tmp_path):
    result = sandbox.run(["sh", "-c", "echo hello; exit 3"], cwd=str(tmp_path), env=sandbox.sandbox_env(str(tmp_path)),
                         timeout_s=30)
    assert result.returncode == 3 and not result.ok and not result.timed_out and result.output == "hello\n"


def test_output_is_bounded_while_it_is_read(tmp_path):
    """60 MB of output: the result keeps the first and the last megabyte, not the whole stream."""
    script = ("import sys\nsys.stdout.write('FIRST\\n')\nfor _ in range(60):\n    sys.stdout.write('x' * (1 << 20))\n"
              "sys.stdout.write('\\nLAST\\n')")
    result = sandbox.run([sys.executable, "-c", script], cwd=str(tmp_path), env=sandbox.sandbox_env(str(tmp_path)),
                         timeout_s=120)
    assert result.ok
    assert len(result.output) <= 2_100_000
    assert result.output.startswith("FIRST") and result.output.rstrip().endswith("LAST")
    assert "[... output cut ...]" in result.output


# -- limits ----------------------------------------------------------------------------------------

def _limited(tmp_path, script: str, limits: Limits, *, fenced: bool = True, timeout_s: float = 120):
    fence = _fence(tmp_path) if fenced else None
    cwd = fence.writable if fence else str(tmp_path)
    return sandbox.run([sys.executable, "-c", script], cwd=cwd, env=sandbox.sandbox_env(cwd), timeout_s=timeout_s,
                       fence=fence, limits=limits)


@pytest.mark.parametrize("fenced", [False, True], ids=["unsandboxed", "sandboxed"])
def test_memory_is_bounded(tmp_path, fenced):
    script = "b = bytearray(600 << 20)\nprint('allocated', len(b))"
    result = _limited(tmp_path, script, Limits(memory_mb=400), fenced=fenced)
    assert not result.ok and "MemoryError" in result.output and "allocated" not in result.output
    assert "MESHDIFF_SANDBOX_MEMORY_MB" in result.exceeded
    assert _limited(tmp_path, "b = bytearray(50 << 20); print('allocated')", Limits(memory_mb=400), fenced=fenced).ok


def test_file_size_is_bounded(tmp_path):
    script = "open('big', 'wb').write(b'x' * (3 << 20))\nprint('wrote')"
    result = _limited(tmp_path, script, Limits(file_mb=1))
    assert not result.ok and "wrote" not in result.output
    assert "MESHDIFF_SANDBOX_FILE_MB" in result.exceeded
    assert os.path.getsize(tmp_path / "out" / "big") <= 1 << 20


def test_cpu_time_is_bounded(tmp_path):
    result = _limited(tmp_path, "while True: pass", Limits(cpu_s=1), timeout_s=120)
    assert not result.ok and not result.timed_out
    assert "CPU time" in result.exceeded and "MESHDIFF_SANDBOX_CPU_S" in result.exceeded


def test_process_count_is_bounded(tmp_path):
    script = ("import os, sys, time\nmade = 0\nfor _ in range(200):\n    try:\n        pid = os.fork()\n"
              "    except OSError:\n        break\n    if pid == 0:\n        time.sleep(30)\n        os._exit(0)\n"
              "    made += 1\nprint('forked', made)\nsys.stdout.flush()\nos._exit(0)")
    result = _limited(tmp_path, script, Limits(procs=20), timeout_s=60)
    made = int(result.output.split("forked", 1)[1].split()[0])
    assert made < 20, result.output


def test_the_writable_folder_is_bounded(tmp_path):
    script = ("import time\nfor i in range(400):\n    open(f'f{i}', 'wb').write(b'x' * (1 << 20))\n"
              "    time.sleep(0.02)\nprint('all written')")
    result = _limited(tmp_path, script, Limits(disk_mb=20), timeout_s=120)
    assert not result.ok and "all written" not in result.output
    assert "MESHDIFF_SANDBOX_DISK_MB" in result.exceeded


def test_limits_from_the_environment():
    assert Limits.from_env({}) == Limits()
    assert Limits.from_env({"MESHDIFF_SANDBOX_MEMORY_MB": "2048"}).memory_mb == 2048
    with pytest.raises(ValueError, match="MESHDIFF_SANDBOX_PROCS"):
        Limits.from_env({"MESHDIFF_SANDBOX_PROCS": "lots"})


# -- the policy ------------------------------------------------------------------------------------

def test_this_host_makes_the_sandbox_and_the_command_is_not_root():
    status = sandbox.probe(refresh=True)
    assert status.ok, status
    assert "kernel uid 0" not in status.reason and "uid 65534" in status.reason


def test_required_refuses_where_the_host_cannot_make_it(monkeypatch):
    monkeypatch.setattr(sandbox, "bwrap_path", lambda: None)
    status = sandbox.probe(refresh=True)
    try:
        assert not status.ok and "not installed" in status.reason and "apt-get install bubblewrap" in status.hint
        with pytest.raises(SandboxError) as caught:
            SandboxConfig(policy="required").active()
        text = str(caught.value)
        assert "did not compile the project's code" in text and "bubblewrap" in text
        assert "MESHDIFF_SANDBOX=off" in text and "unsafe" in text
    finally:
        monkeypatch.undo()
        sandbox.probe(refresh=True)


def test_auto_warns_once_and_runs_unsandboxed(monkeypatch, capsys):
    monkeypatch.setattr(sandbox, "probe", lambda **_: Status(False, "bubblewrap (bwrap) is not installed", "x"))
    monkeypatch.setattr(sandbox, "_warned", set())
    config = SandboxConfig(policy="auto")
    assert config.active() is False and config.active() is False
    err = capsys.readouterr().err
    assert err.count("UNSANDBOXED") == 1 and "--sandbox required" in err


def test_off_never_probes(monkeypatch):
    monkeypatch.setattr(sandbox, "probe", lambda **_: pytest.fail("probed"))
    assert SandboxConfig(policy="off").active() is False


def test_policy_and_deps_network_from_the_environment():
    assert SandboxConfig.from_env("required", {}).policy == "required"
    assert SandboxConfig.from_env("required", {"MESHDIFF_SANDBOX": "on"}).policy == "required"
    assert SandboxConfig.from_env("required", {"MESHDIFF_SANDBOX": "off"}).policy == "off"
    assert SandboxConfig.from_env("auto", {}).deps_network is True
    assert SandboxConfig.from_env("auto", {"MESHDIFF_DEPS_NETWORK": "off"}).deps_network is False
    with pytest.raises(ValueError, match="MESHDIFF_SANDBOX"):
        SandboxConfig.from_env("auto", {"MESHDIFF_SANDBOX": "maybe"})
