"""The merge policy (analysis.impact.policy.decide) on hand-built reports."""
from analysis.impact.policy import Policy, decide
from analysis.report import Change, GitRef, Impact, Report


def report(changes=(), impacts=()):
    return Report("shop", GitRef("main", "a"), GitRef("pr", "b"), changes=list(changes), impacts=list(impacts))


def unknown_change():
    return Change("model.shop.orders", "model", "unknown",
                  reasons=["SQL changed but its lineage could not be proven: sqlglot could not parse it"])


def test_an_unknown_change_blocks_even_when_nothing_reads_it():
    got = decide(report([unknown_change()]))
    assert got.conclusion == "failure"
    (why,) = got.policy
    assert why.startswith("model.shop.orders (category `unknown`")
    assert "sqlglot could not parse it" in why


def test_an_unknown_change_does_not_block_when_the_policy_ignores_unknown():
    assert decide(report([unknown_change()]), Policy(fail_on=frozenset({"breaking"}))).conclusion == "success"


def test_partial_change_without_blocking_impacts_succeeds():
    impact = Impact("finance", "model.finance.revenue", "model", "changed")
    got = decide(report([Change("model.shop.orders", "model", "partial")], [impact]))
    assert got.conclusion == "success" and got.policy == []


def test_unknown_impact_blocks():
    impact = Impact("finance", "model.finance.revenue", "model", "unknown")
    got = decide(report([Change("model.shop.orders", "model", "partial")], [impact]))
    assert got.conclusion == "failure" and got.policy == ["1 impacted node(s) with severity `unknown`"]
