"""CODEOWNERS read as GitHub reads it (the examples of GitHub's documentation), and owners from it
on a real analysis: deduplicated with the manifest's handles, the changed repository's file as on
the base branch (a PR cannot choose whom the comment pings or asks for a review)."""
from __future__ import annotations

import os
import subprocess

import pytest

from analysis.errors import AnalysisError
from analysis.impact import codeowners
from analysis.impact.codeowners import merge_handles, owners_of, parse, read_codeowners

# GitHub's documented example (docs: "About code owners", "Example of a CODEOWNERS file")
GITHUB_EXAMPLE = """\
# Lines starting with '#' are comments.
*       @global-owner1 @global-owner2
*.js    @js-owner #This is an inline comment.
*.go docs@example.com
*.txt @octo-org/octocats
/build/logs/ @doctocat
docs/*  docs@example.com
apps/ @octocat
/docs/ @doctocat
/scripts/ @doctocat @octocat
**/logs @octocat
/apps/ @octocat
/apps/github
"""


@pytest.mark.parametrize("path, owners", [
    ("README.md", ("@global-owner1", "@global-owner2")),
    ("src/app.js", ("@js-owner",)),                       # the inline comment is no owner
    ("cmd/main.go", ()),                                  # an e-mail address is never a handle
    ("notes/a.txt", ("@octo-org/octocats",)),
    ("build/logs/today/x.log", ("@octocat",)),            # **/logs comes later and wins
    ("build/other/x.md", ("@global-owner1", "@global-owner2")),
    ("docs/getting-started.md", ("@doctocat",)),          # /docs/ (later) wins over docs/*
    ("lib/apps/x.sql", ("@octocat",)),                    # apps/: any folder of that name
    ("scripts/deploy.sh", ("@doctocat", "@octocat")),
    ("deeply/nested/logs/a.sql", ("@octocat",)),
    ("apps/github/a.sql", ()),                            # a pattern without owners: unowned
    ("apps/other/a.sql", ("@octocat",)),
])
def test_github_documented_example(path, owners):
    assert owners_of(parse(GITHUB_EXAMPLE), path) == owners


def test_folder_star_covers_its_files_not_its_subfolders():
    rules = parse("* @all\ndocs/* @docs\n")
    assert owners_of(rules, "docs/getting-started.md") == ("@docs",)
    assert owners_of(rules, "docs/build-app/troubleshooting.md") == ("@all",)


def test_anchoring_and_folders_only():
    rules = parse("/models/ @root-models\nmarts @any-marts\nstaging/ @staging-folders\n")
    assert owners_of(rules, "models/a.sql") == ("@root-models",)
    assert owners_of(rules, "finance/models/a.sql") == ()  # /models/ is the root's only
    assert owners_of(rules, "finance/models/marts/a.sql") == ("@any-marts",)  # a folder anywhere
    assert owners_of(rules, "x/marts") == ("@any-marts",)  # or a file of that name
    assert owners_of(rules, "x/staging") == ()  # staging/ names folders only
    assert owners_of(rules, "x/staging/a.sql") == ("@staging-folders",)


def test_unsupported_and_invalid_lines_are_skipped():
    rules = parse("* @ok\n!*.sql @negated\n[ab].sql @ranges\nx.sql @not!valid @fine user@example.com\n")
    assert owners_of(rules, "a.sql") == ("@ok",)
    assert owners_of(rules, "x.sql") == ("@fine",)


def test_merge_keeps_the_first_spelling_once():
    assert merge_handles(["@Octo-Org/Finance", "@ann"], ["@octo-org/finance", "@bob", "@ANN"]) == (
        "@Octo-Org/Finance", "@ann", "@bob")


def _write(root, rel, text):
    path = os.path.join(root, rel)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(text)


def test_load_takes_githubs_first_location(tmp_path):
    root = str(tmp_path)
    assert read_codeowners(root) is None
    _write(root, "docs/CODEOWNERS", "* @docs-file\n")
    _write(root, "CODEOWNERS", "* @root-file\n")
    assert read_codeowners(root).path == "CODEOWNERS"
    _write(root, ".github/CODEOWNERS", "* @github-file\n")
    found = read_codeowners(root)
    assert found.path == ".github/CODEOWNERS" and owners_of(found, "a.sql") == ("@github-file",)


def test_load_never_follows_a_link_leaving_the_checkout(tmp_path):
    outside = tmp_path / "secret.pem"
    outside.write_text("-----BEGIN PRIVATE KEY----- @leaked\n")
    root = tmp_path / "checkout"
    root.mkdir()
    os.symlink(outside, root / "CODEOWNERS")
    with pytest.raises(AnalysisError) as err:
        read_codeowners(str(root))
    assert "symbolic link" in str(err.value) and "PRIVATE KEY" not in str(err.value)


def test_load_refuses_a_file_github_ignores(tmp_path):
    (tmp_path / "CODEOWNERS").write_bytes(b"* @big\n" + b"#" * codeowners.MAX_BYTES)
    with pytest.raises(AnalysisError, match="larger than"):
        read_codeowners(str(tmp_path))


# -- on a real analysis ----------------------------------------------------------------------
BASE_CODEOWNERS = """\
* @octo-org/data-platform
/finance/ @octo-org/finance-owners @Finance-Lead
/finance/models/_exposures.yml @accounting-lead
/exec_reporting/models/top_customers.sql @exec-analyst
"""


def _git(repo, *args):
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com"}
    subprocess.run(["git", *args], cwd=repo, env=env, check=True, capture_output=True)


@pytest.mark.dbt
def test_owners_from_codeowners_of_the_base_branch(tmp_path, meshdiff_cache):
    """As the App runs it: the same repository's consumers read from the PR's head checkout. The
    PR rewrites CODEOWNERS to own everything itself; the owners still come from the base branch."""
    from analysis.pipeline import AnalysisRequest, ProjectSpec, analyze
    from analysis.report import GitRef
    from bot import worktree
    from bot.demo import DEMO_EDITS, commit_change, init_mesh_repo

    repo = init_mesh_repo(None, str(tmp_path / "repo"))
    _write(repo, ".github/CODEOWNERS", BASE_CODEOWNERS)
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", "owners")
    commit_change(repo, "rename", [*DEMO_EDITS, (".github/CODEOWNERS", None, "* @mallory\n")], "rename")
    checkout = worktree.locate(os.path.join(repo, "shop"))
    shas = {"base": worktree.resolve(checkout, "main"), "head": worktree.resolve(checkout, "rename")}
    with worktree.worktrees(checkout, shas) as dirs:
        head_root = os.path.dirname(dirs["head"])
        report = analyze(AnalysisRequest(
            changed=ProjectSpec(dirs["head"], name="shop", root=head_root),
            base_path=dirs["base"], base_root=os.path.dirname(dirs["base"]),
            base=GitRef("main", shas["base"]), head=GitRef("rename", shas["head"]),
            downstream=[ProjectSpec(os.path.join(head_root, p), name=p, root=head_root)
                        for p in ("finance", "exec_reporting")],
            repo_subdir="shop", cache_dir=meshdiff_cache))
    assert not report.errors, report.errors
    handles = {i.node: i.handles for i in report.impacts}
    assert handles, "the rename reaches consumers"
    assert not any("@mallory" in h for h in handles.values()), handles
    # the last matching line wins; case-insensitive duplicates appear once
    assert handles["model.finance.customer_segments"][-2:] == ["@octo-org/finance-owners", "@Finance-Lead"]
    assert handles["exposure.finance.churn_model"][-1:] == ["@accounting-lead"]
    assert handles["model.exec_reporting.top_customers"][-1:] == ["@exec-analyst"]
    assert handles["exposure.exec_reporting.board_dashboard"][-1:] == ["@octo-org/data-platform"]
    for found in handles.values():
        assert len({h.lower() for h in found}) == len(found)
