"""The sandbox of every dbt invocation and the generated dbt-loom config (no dbt needed).

- the child's environment is an allow-list (a secret of the parent never reaches it);
- it runs in a fresh temporary working directory, never the project folder, removed afterwards;
- on its time limit the whole process group is killed (a forked grandchild too);
- the dbt-loom config re-points the mesh's projects at meshdiff's manifests and keeps the
  consumer's other entries (relative file paths resolved against the project).
"""
import json
import os
import sys
import time

import pytest
import yaml

from analysis.dbt import compile as dbt
from analysis.dbt import sandbox
from analysis.dbt.compile import CompileResult, DbtProjectFile, loom_config

SECRETS = {"MESHDIFF_PRIVATE_KEY": "-----BEGIN KEY-----", "GITHUB_TOKEN": "ghs_secret", "AWS_SECRET_ACCESS_KEY": "x",
           "DBT_ENV_SECRET_PASSWORD": "hunter2", "MESHDIFF_REDIS_URL": "redis://secret@host/0"}


@pytest.fixture
def secrets(monkeypatch):
    for key, value in SECRETS.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("LANG", "C.UTF-8")


def child_env(tmp_path, extra=None) -> dict:
    env = sandbox.sandbox_env(str(tmp_path / "home"), extra)
    script = "import json, os; print(json.dumps({'env': dict(os.environ), 'cwd': os.getcwd()}))"
    result = sandbox.run([sys.executable, "-c", script], cwd=str(tmp_path), env=env, timeout_s=30)
    assert result.ok, result.output
    return json.loads(result.output)


def test_a_secret_of_the_parent_never_reaches_the_child(tmp_path, secrets):
    seen = child_env(tmp_path, {"DBT_PROFILES_DIR": "/p"})
    env = seen["env"]
    assert not set(SECRETS) & set(env)
    assert not any(v in " ".join(env.values()) for v in SECRETS.values())
    assert env["HOME"] == str(tmp_path / "home") and env["DBT_PROFILES_DIR"] == "/p"
    assert env["LANG"] == "C.UTF-8"  # locale is allow-listed
    assert set(env) <= {"PATH", "HOME", "PYTHONDONTWRITEBYTECODE", "PYTHONUNBUFFERED", "NO_COLOR", "LANG", "LC_ALL",
                        "LC_CTYPE", "TZ", "TMPDIR", "SSL_CERT_FILE", "REQUESTS_CA_BUNDLE", "DBT_PROFILES_DIR"}
    assert os.path.realpath(seen["cwd"]) == os.path.realpath(tmp_path)


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


def test_output_is_returned_and_failure_is_not_ok(tmp_path):
    result = sandbox.run(["sh", "-c", "echo hello; exit 3"], cwd=str(tmp_path), env=sandbox.sandbox_env(str(tmp_path)),
                         timeout_s=30)
    assert result.returncode == 3 and not result.ok and not result.timed_out and result.output == "hello\n"


# -- a compile: temp working dir, generated profile and loom config, allow-listed env --------

def project(tmp_path, entries=()) -> DbtProjectFile:
    root = tmp_path / "finance"
    root.mkdir()
    (root / "dbt_project.yml").write_text("name: finance\nprofile: finance\n")
    (root / "profiles.yml").write_text("finance: {target: prod, outputs: {prod: {type: snowflake}}}\n")
    (root / ".env").write_text("SNOWFLAKE_PASSWORD=oops\n")
    return DbtProjectFile(path=str(root), name="finance", profile="finance", loom_entries=tuple(entries))


def test_compile_runs_in_a_fresh_temp_dir_with_generated_files(tmp_path, monkeypatch, secrets):
    calls = []

    def fake_run(argv, *, cwd, env, timeout_s):
        calls.append({
            "argv": argv, "cwd": cwd, "env": env, "timeout_s": timeout_s, "cwd_files": sorted(os.listdir(cwd)),
            "loom": yaml.safe_load(open(env["DBT_LOOM_CONFIG"], encoding="utf-8")),
            "profiles": yaml.safe_load(open(os.path.join(env["DBT_PROFILES_DIR"], "profiles.yml"), encoding="utf-8")),
        })
        return sandbox.RunResult(tuple(argv), 1, "Compilation Error in model x\n  boom", 0.1)

    monkeypatch.setattr(sandbox, "run", fake_run)
    proj = project(tmp_path, [{"name": "shop", "type": "file", "config": {"path": "../shop/target/manifest.json"}}])
    upstream = {"shop": CompileResult("shop", "/x/shop", "k1", str(tmp_path / "shop-manifest.json"), True)}
    result = dbt.compile_project(proj, upstream, cache_dir=str(tmp_path / "cache"), timeout_s=7)
    assert not result.ok and "Compilation Error" in result.error
    (call,) = calls
    work = call["cwd"]
    assert not os.path.realpath(work).startswith(os.path.realpath(proj.path))  # not the checkout
    assert os.path.basename(work).startswith("meshdiff-finance-") and not os.path.exists(work)  # removed after
    assert call["cwd_files"] == ["dbt_loom.config.yml", "home", "logs", "profiles", "target"]  # no .env, no profiles.yml
    assert call["timeout_s"] == 7
    argv = call["argv"]
    assert argv[argv.index("--project-dir") + 1] == proj.path
    assert argv[argv.index("--profiles-dir") + 1] == os.path.join(work, "profiles")
    assert argv[argv.index("--target-path") + 1] == os.path.join(work, "target")
    assert call["profiles"]["finance"]["outputs"][call["profiles"]["finance"]["target"]]["type"] == "duckdb"
    assert call["loom"]["manifests"][0]["config"] == {"path": str(tmp_path / "shop-manifest.json")}
    assert not set(SECRETS) & set(call["env"]) and call["env"]["HOME"] == os.path.join(work, "home")


# -- the generated dbt-loom config -------------------------------------------------------------

def test_loom_config_repoints_mesh_projects_and_keeps_the_others(tmp_path):
    entries = [
        {"name": "shop", "type": "file", "config": {"path": "../shop/target/manifest.json"}, "optional": True},
        {"name": "marketing", "type": "file", "config": {"path": "../marketing/target/manifest.json"},
         "excluded_packages": ["dbt_project_evaluator"]},
        {"name": "crm", "type": "s3", "config": {"bucket_name": "b", "object_name": "crm/manifest.json"}},
        {"name": "web", "type": "file", "config": {"path": "https://example.com/manifest.json"}},
        {"name": "envy", "type": "file", "config": {"path": "$MANIFESTS/envy.json"}},
        {"name": "ops", "config": {"path": "vendored/ops_manifest.json"}},  # type defaults to file
        {"name": "sales", "type": "file", "config": {"path": "../sales/manifest.json"}, "included_packages": ["sales"]},
    ]
    proj = project(tmp_path, entries)
    upstream = {
        "shop": CompileResult("shop", "/x/shop", "k1", "relative/shop.json", True),
        "sales": CompileResult("sales", "/x/sales", "k2", "/abs/sales.json", True),
    }
    config = loom_config(proj, upstream)
    assert config["enable_telemetry"] is False
    by_name = {e["name"]: e for e in config["manifests"]}
    assert list(by_name) == ["shop", "marketing", "crm", "web", "envy", "ops", "sales"]  # order kept
    # mesh projects: meshdiff's manifests, required, never re-injecting the consumer's own nodes
    assert by_name["shop"] == {"name": "shop", "type": "file", "config": {"path": os.path.abspath("relative/shop.json")},
                               "optional": False, "excluded_packages": ["finance"]}
    assert by_name["sales"]["config"] == {"path": "/abs/sales.json"}
    assert by_name["sales"]["included_packages"] == ["sales"] and "excluded_packages" not in by_name["sales"]
    # other upstream entries are kept; relative file paths resolved against the project folder
    assert by_name["marketing"] == {**entries[1], "config": {"path": str(tmp_path / "marketing/target/manifest.json")}}
    assert by_name["ops"]["config"] == {"path": os.path.join(proj.path, "vendored/ops_manifest.json")}
    assert by_name["crm"] == entries[2] and by_name["web"] == entries[3] and by_name["envy"] == entries[4]
    assert entries[0]["config"] == {"path": "../shop/target/manifest.json"}  # the project's own entries untouched


def test_a_missing_upstream_manifest_is_named_before_dbt_runs(tmp_path, monkeypatch):
    def no_dbt(*args, **kw):
        raise AssertionError("dbt must not run")

    monkeypatch.setattr(sandbox, "run", no_dbt)
    (tmp_path / "present.json").write_text("{}")
    proj = project(tmp_path, [
        {"name": "shop", "type": "file", "config": {"path": "../shop/target/manifest.json"}},
        {"name": "crm", "type": "file", "config": {"path": "../crm/manifest.json"}, "optional": True},
        {"name": "ops", "config": {"path": str(tmp_path / "present.json")}},
        {"name": "web", "type": "file", "config": {"path": "https://example.com/manifest.json"}},
    ])
    assert dbt.absent_manifests(proj, {}) == [("shop", str(tmp_path / "shop/target/manifest.json"))]
    result = dbt.compile_project(proj, {}, cache_dir=str(tmp_path / "cache"))
    assert not result.ok
    assert result.error.startswith("finance reads project(s) shop through dbt-loom, but no manifest of it is available")
    assert "`--upstream DIR`" in result.error
    assert not (tmp_path / "cache").exists()  # not cached: the manifest may exist on the next run
    # once meshdiff compiles shop itself, nothing is missing
    upstream = {"shop": CompileResult("shop", "/x/shop", "k1", str(tmp_path / "present.json"), True)}
    assert dbt.absent_manifests(proj, upstream) == []


def test_the_compile_key_follows_a_manifest_from_outside_the_mesh(tmp_path):
    """A consumer also reading a project outside the mesh (its manifest vendored as a file): a new
    version of that file is a new compile, not a stale cache hit; mesh upstreams count by key."""
    from analysis.dbt.compile import content_key

    entries = [{"name": "shop", "type": "file", "config": {"path": "../shop/manifest.json"}},
               {"name": "ops", "type": "file", "config": {"path": "../ops/manifest.json"}}]
    proj = project(tmp_path, entries)
    (tmp_path / "ops").mkdir()
    manifest = tmp_path / "ops" / "manifest.json"  # outside the project folder
    manifest.write_text('{"metadata": {"project_name": "ops"}}')
    first = content_key(proj, {"shop": "k1"})
    assert content_key(proj, {"shop": "k1"}) == first
    assert content_key(proj, {"shop": "k2"}) != first
    manifest.write_text('{"metadata": {"project_name": "ops"}, "nodes": {}}')
    assert content_key(proj, {"shop": "k1"}) != first
