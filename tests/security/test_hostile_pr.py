"""Hostile pull requests on real dbt compiles (issue 8): one branch per attack, analysed by the real
pipeline (sandbox policy ``required``) against ``main`` of a two-project mesh (``shop`` produces,
``finance`` reads it through dbt-loom).

Planted around the analysis: a key file, a secret in this (the parent) process's environment, a
TCP listener on 127.0.0.1, folders outside the checkout. Every attack must fail to read, write or
connect; neither the report (JSON) nor the comment or check run rendered from it may hold a
planted secret; and the analysis must still end with a clear verdict (a ``failure`` saying what
went wrong, or the ordinary verdict with a warning).
"""
from __future__ import annotations

import json
import os
import secrets
import site
import socket
import threading

import pytest

from analysis.dbt.sandbox import SandboxConfig
from analysis.pipeline import AnalysisRequest, ProjectSpec, analyze
from analysis.report import GitRef, Report
from bot.demo import _git, commit_change
from bot.github.checks import check_summary, details_text
from bot import worktree
from bot.render import render_markdown

pytestmark = pytest.mark.dbt

SHOP_PROJECT = "name: shop\nprofile: shop\nconfig-version: 2\nversion: '1.0'\n"
FINANCE_PROJECT = "name: finance\nprofile: finance\nconfig-version: 2\nversion: '1.0'\n"
ORDERS = "select 1 as id, 10 as amount\n"
SHOP_YML = "models:\n  - name: orders\n    access: public\n"
REVENUE = "select id, amount * 2 as revenue from {{ ref('shop', 'orders') }}\n"
LOOM = "manifests:\n  - name: shop\n    type: file\n    config:\n      path: ../shop/target/manifest.json\n"


class Listener:
    """A TCP listener on 127.0.0.1 recording every connection it accepts."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.accepted: list[str] = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, peer = self.sock.accept()
            except OSError:
                return
            self.accepted.append(f"{peer}")
            conn.close()


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    root = tmp_path_factory.mktemp("hostile")
    marker = secrets.token_hex(8)
    planted = root / "etc-meshdiff"
    planted.mkdir()
    key = planted / "app.pem"
    key.write_text(f"-----BEGIN RSA PRIVATE KEY-----\nPLANTEDKEY{marker}\n-----END RSA PRIVATE KEY-----\n")
    key.chmod(0o600)
    outside = root / "outside"
    outside.mkdir()
    repo = root / "repo"
    for rel, text in (("shop/dbt_project.yml", SHOP_PROJECT), ("shop/models/orders.sql", ORDERS),
                      ("shop/models/_models.yml", SHOP_YML), ("finance/dbt_project.yml", FINANCE_PROJECT),
                      ("finance/models/revenue.sql", REVENUE), ("finance/dbt_loom.config.yml", LOOM)):
        (repo / rel).parent.mkdir(parents=True, exist_ok=True)
        (repo / rel).write_text(text)
    _git(str(repo), "init", "-q", "-b", "main")
    _git(str(repo), "add", "-A")
    _git(str(repo), "commit", "-q", "-m", "mesh")
    listener = Listener()
    env_secret = f"PLANTEDENV{marker}"
    os.environ["MESHDIFF_PRIVATE_KEY"] = f"-----BEGIN RSA PRIVATE KEY-----\n{env_secret}\n"
    try:
        yield {"repo": str(repo), "key": str(key), "outside": str(outside), "listener": listener,
               "secrets": (f"PLANTEDKEY{marker}", env_secret), "cache": str(root / "cache")}
    finally:
        os.environ.pop("MESHDIFF_PRIVATE_KEY", None)
        listener.sock.close()


def run_attack(hostile, branch: str, edits, *, project: str = "shop", link: tuple[str, str] | None = None) -> Report:
    """Commit ``edits`` (and a symbolic ``link`` (path, target)) on ``branch`` and analyse
    ``project`` there against ``main`` (the other project as it is on ``main``), sandbox required;
    check that no planted secret reached the report, the comment or the check run."""
    repo = hostile["repo"]
    commit_change(repo, branch, [(rel, None, text) for rel, text in edits], branch)
    if link:
        _git(repo, "checkout", "-q", branch)
        os.makedirs(os.path.dirname(os.path.join(repo, link[0])), exist_ok=True)
        os.symlink(link[1], os.path.join(repo, link[0]))
        _git(repo, "add", "-A")
        _git(repo, "commit", "-q", "-m", f"link {link[0]}")
        _git(repo, "checkout", "-q", "main")
    checkout = worktree.locate(os.path.join(repo, project))
    base_sha, head_sha = worktree.resolve(checkout, "main"), worktree.resolve(checkout, branch)
    other = "finance" if project == "shop" else "shop"
    other_spec = ProjectSpec(os.path.join(repo, other), name=other)
    with worktree.worktrees(checkout, {"base": base_sha, "head": head_sha}) as dirs:
        if link:
            assert os.path.islink(os.path.join(dirs["head"], os.path.relpath(link[0], project)))
        report = analyze(AnalysisRequest(
            changed=ProjectSpec(dirs["head"], name=project), base_path=dirs["base"],
            base=GitRef("main", base_sha), head=GitRef(branch, head_sha), repo_subdir=project,
            downstream=[other_spec] if project == "shop" else [], upstream=[other_spec] if project != "shop" else [],
            cache_dir=hostile["cache"], sandbox=SandboxConfig(policy="required"), compile_timeout_s=600,
        ))
    everything = "\n".join([json.dumps(report.to_dict()), render_markdown(report), check_summary([report]),
                            details_text([report])])
    for secret in hostile["secrets"]:
        assert secret not in everything, f"{branch}: a planted secret reached the report"
    assert report.conclusion in ("success", "failure", "neutral"), report.conclusion
    return report


def _model(sql: str) -> list:
    return [("shop/models/attack.sql", sql)]


def _failed_with(report: Report, *phrases: str) -> None:
    """A clear verdict: the analysis failed, and its error says why."""
    assert report.conclusion == "failure" and report.errors, report.to_dict()
    text = "\n".join(report.errors)
    assert "shop does not compile at" in text, text
    for phrase in phrases:
        assert phrase in text, text


def test_read_a_planted_secret_file(hostile):
    sql = ("{% set r = run_query(\"select content from read_text('" + hostile["key"] + "')\") %}\n"
           "select '{{ r.columns[0].values()[0] if r else '' }}' as leak\n")
    _failed_with(run_attack(hostile, "read-secret", _model(sql)), "Permission Error")


def test_read_the_parents_environment(hostile):
    path = f"/proc/{os.getpid()}/environ"
    sql = ("{% set r = run_query(\"select content from read_blob('" + path + "')\") %}\n"
           "select 1 as id -- {{ r.columns[0].values()[0] if r else '' }}\n")
    _failed_with(run_attack(hostile, "read-environ", _model(sql)), "Permission Error")


def test_a_secret_environment_variable_is_not_there(hostile):
    sql = "select '{{ env_var(\"MESHDIFF_PRIVATE_KEY\", \"absent\") }}' as leak\n"
    report = run_attack(hostile, "env-var", _model(sql))
    assert not report.errors, report.errors  # it compiles: the variable simply does not exist in the sandbox


def test_copy_to_a_file_outside(hostile):
    target = os.path.join(hostile["outside"], "pwned.csv")
    sql = "{% do run_query(\"COPY (select 42 as x) TO '" + target + "'\") %}\nselect 1 as id\n"
    _failed_with(run_attack(hostile, "copy-to", _model(sql)), "Permission Error")
    assert not os.path.exists(target)


def test_attach_a_database_outside(hostile):
    target = os.path.join(hostile["outside"], "evil.duckdb")
    sql = ("{% do run_query(\"ATTACH '" + target + "' AS evil\") %}\n"
           "{% do run_query('create table evil.t as select 1 as x') %}\nselect 1 as id\n")
    _failed_with(run_attack(hostile, "attach", _model(sql)), "Permission Error")
    assert not os.path.exists(target)


def test_install_an_extension(hostile):
    port = hostile["listener"].port
    sql = ("{% do run_query(\"INSTALL shellfs FROM community\") %}\n"
           "{% do run_query(\"INSTALL httpfs FROM 'http://127.0.0.1:" + str(port) + "/'\") %}\n"
           "{% do run_query('LOAD shellfs') %}\nselect 1 as id\n")
    _failed_with(run_attack(hostile, "install-extension", _model(sql)))
    assert hostile["listener"].accepted == []


def test_connect_to_a_local_listener(hostile):
    port = hostile["listener"].port
    sql = ("{% do run_query(\"SET enable_external_access = true\") %}\n"
           "{% set r = run_query(\"select * from read_csv('http://127.0.0.1:" + str(port) + "/x.csv')\") %}\n"
           "select 1 as id\n")
    _failed_with(run_attack(hostile, "connect", _model(sql)))
    assert hostile["listener"].accepted == []


def test_write_a_pth_file_into_site_packages(hostile):
    target = os.path.join(site.getsitepackages()[0], "meshdiff_pwned.pth")
    sql = ("{% do run_query(\"COPY (select 'import os' as line) TO '" + target + "' (HEADER false)\") %}\n"
           "select 1 as id\n")
    _failed_with(run_attack(hostile, "pth", _model(sql)), "Permission Error")
    assert not os.path.exists(target)


def test_a_multi_gigabyte_jinja_string(hostile):
    sql = "{% set s = 'x' * (6 * 1024 * 1024 * 1024) %}\nselect {{ s | length }} as n\n"
    _failed_with(run_attack(hostile, "jinja-bomb", _model(sql)), "memory above 4096 MB", "MESHDIFF_SANDBOX_MEMORY_MB")


def test_a_symlinked_seed(hostile):
    """A seed linked to the key: dbt in the sandbox cannot follow it (the key is not in its view),
    and meshdiff never reads it for the seed's columns."""
    report = run_attack(hostile, "symlinked-seed", [("shop/seeds/_seeds.yml", "seeds:\n  - name: leak\n")],
                        link=("shop/seeds/leak.csv", hostile["key"]))
    assert report.conclusion in ("success", "failure") and (report.errors or report.conclusion == "success")


def test_a_dbt_loom_http_entry_is_dropped_and_never_fetched(hostile):
    port = hostile["listener"].port
    loom = LOOM + (f"  - name: web\n    type: file\n    config:\n      path: http://127.0.0.1:{port}/manifest.json\n"
                   "    optional: true\n")
    report = run_attack(hostile, "loom-http", [("finance/dbt_loom.config.yml", loom)], project="finance")
    assert hostile["listener"].accepted == []
    assert any("the dbt-loom entry `web` was dropped" in w and "http:// URL" in w for w in report.warnings)
    assert not report.errors, report.errors  # the rest of the analysis goes on: a clear verdict


def test_a_dbt_error_with_a_carriage_return_and_html_stays_inert(hostile):
    hostile_text = "boom\\r```\\r# Injected <img src=x onerror=alert(1)> @org/team"
    sql = "{{ exceptions.raise_compiler_error('" + hostile_text + "') }}\nselect 1 as id\n"
    report = run_attack(hostile, "hostile-error", _model(sql))
    _failed_with(report, "Injected")
    import cmarkgfm
    from cmarkgfm.cmark import Options

    html = cmarkgfm.github_flavored_markdown_to_html(render_markdown(report), options=Options.CMARK_OPT_UNSAFE)
    assert "<img" not in html and "<h1" not in html
