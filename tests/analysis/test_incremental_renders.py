"""Both renders of an incremental model (issue 9, item 4): a change only inside
``{% if is_incremental() %}`` is seen, the report says which render changed, and its readers are
reached. Real dbt compiles of the lakemesh fixture (``lake.events`` is incremental, read by
``dock.event_totals``); the comparison rules alone on plain nodes (fast)."""
import pytest

from analysis.dbt import Node
from analysis.impact import ProjectDiff, add_incremental
from tests.lakemesh import lake_runner

EVENTS = "lake/models/events.sql"
FILTER = "where updated_at > (select max(updated_at) from {{ this }})"
ALL = ["amount", "customer_id", "event_id", "updated_at"]


@pytest.fixture(scope="module")
def lake(tmp_path_factory, meshdiff_cache):
    return lake_runner(tmp_path_factory, meshdiff_cache)


def summary(report):
    return ({c.node: (c.category, [x.name for x in c.columns]) for c in report.changes},
            {i.node: (i.severity, i.columns) for i in report.impacts})


@pytest.mark.dbt
def test_a_filter_changed_only_inside_is_incremental(lake):
    report = lake("inc-filter", [(EVENTS, FILTER, FILTER.replace(" > ", " >= "))])
    changes, impacts = summary(report)
    assert changes == {"model.lake.events": ("partial", ALL)}
    assert impacts == {"model.dock.event_totals": ("changed", ["customer_id", "last_event_at", "total_amount"])}
    reason = report.changes[0].reasons[0]
    assert reason.startswith("only the incremental render changed, the full-refresh render is the same")
    assert "which rows it adds or updates changed" in reason
    assert report.conclusion == "success"


@pytest.mark.dbt
def test_a_column_computed_otherwise_on_incremental_runs(lake):
    report = lake("inc-column", [(EVENTS, "    amount,\n",
                                  "    {% if is_incremental() %}amount * 100{% else %}amount{% endif %} as amount,\n")])
    changes, impacts = summary(report)
    assert changes == {"model.lake.events": ("partial", ["amount"])}
    assert impacts == {"model.dock.event_totals": ("changed", ["total_amount"])}
    assert report.changes[0].reasons == [
        "the full-refresh render is only reformatted: same columns, same expressions, same rows",
        "the incremental render (the SQL dbt runs when is_incremental() is true, on every run after the first) "
        "changed: column expressions changed: `amount` may change",
        "`amount` modified; read by dock.event_totals.total_amount"]


@pytest.mark.dbt
def test_a_change_only_inside_is_incremental_whose_render_fails_is_unknown(lake):
    """The head's incremental render cannot be made (a var the filter needs is not given, so only
    the second compile fails): the full-refresh render is the same, the model's file is not:
    nothing proves the change harmless, so it is unknown and gates, never 'no impact'."""
    report = lake("inc-norender", [(EVENTS, FILTER, "where updated_at > '{{ var(\"since\") }}'")])
    changes, impacts = summary(report)
    assert changes.get("model.lake.events", (None,))[0] == "unknown", changes
    assert impacts.get("model.dock.event_totals", (None,))[0] == "unknown", impacts
    assert report.conclusion == "failure"


def _node(**kw):
    base = dict(unique_id="model.lake.events", project="lake", name="events", resource_type="model",
                materialized="incremental", raw_sql="select 1", compiled_sql="select a, b from t")
    return Node(**{**base, **kw})


def _diff(base, head, dialect="duckdb"):
    diff = ProjectDiff()
    add_incremental(diff, {base.unique_id: base}, {head.unique_id: head}, {head.unique_id: {"a": None, "b": None}},
                    dialect)
    return diff


def test_renders_compared_by_rule():
    same = _diff(_node(incremental_sql="select a, b from t where a > 1"),
                 _node(incremental_sql="SELECT a,  b FROM t /* reformatted */ WHERE a > 1"))
    assert same.changes == [] and same.seeds == {}
    one = _diff(_node(incremental_sql="select a, b from t where a > 1"),
                _node(incremental_sql="select a, b + 1 as b from t where a > 1"))
    assert [(c.node, c.category, [x.name for x in c.columns]) for c in one.changes] == [
        ("model.lake.events", "partial", ["b"])]
    assert one.seeds == {"model.lake.events": {"b": "modified"}}
    # no second render at head, and the model's code changed: nothing can be compared, never "same"
    unknown = _diff(_node(incremental_sql="select a, b from t where a > 1"),
                    _node(raw_sql="select 2", incremental_error="its relation is in database `other`"))
    assert [c.category for c in unknown.changes] == ["unknown"]
    assert unknown.seeds == {"model.lake.events": {"a": "unknown", "b": "unknown"}}
    assert "could not be compared: its relation is in database `other`" in unknown.changes[0].reasons[0]
    # as the pipeline loads nodes (no raw SQL kept for a compiled model): the file's checksum says the code changed
    as_loaded = _diff(_node(raw_sql=None, checksum="a", incremental_sql="select a, b from t where a > 1"),
                      _node(raw_sql=None, checksum="b", incremental_error="the second compile failed"))
    assert [c.category for c in as_loaded.changes] == ["unknown"]
    # no render on either side but the same code: unchanged (nothing to compare, nothing changed)
    assert _diff(_node(incremental_error="x"), _node(incremental_error="x")).changes == []
