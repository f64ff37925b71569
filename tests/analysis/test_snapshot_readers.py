"""Snapshots (issue 9, item 8): the columns dbt adds to a snapshot (``dbt_scd_id``,
``dbt_updated_at``, ``dbt_valid_from``, ``dbt_valid_to``) are known columns with lineage, so a
model reading ``dbt_valid_from``/``dbt_valid_to`` is traced, not partial, and does not block a
harmless change. Real dbt compiles of the lakemesh fixture (``lake.customers_snapshot``, read by
``lake.customer_history``, read by ``dock.customer_tenure``)."""
import pytest

from tests.lakemesh import lake_runner

pytestmark = pytest.mark.dbt

STG = "lake/models/stg_events.sql"
SNAP = "snapshot.lake.customers_snapshot"
HIST = "model.lake.customer_history"
TENURE = "model.dock.customer_tenure"


@pytest.fixture(scope="module")
def lake(tmp_path_factory, meshdiff_cache):
    return lake_runner(tmp_path_factory, meshdiff_cache)


def impacts(report):
    return {i.node: (i.severity, i.columns) for i in report.impacts}


def test_a_change_of_the_snapshots_timestamp_reaches_the_readers_of_dbt_valid_from(lake):
    report = lake("snap-updated-at", [(STG, "cast('2024-01-01' as timestamp) as updated_at",
                                       "cast('2024-06-01' as timestamp) as updated_at")])
    assert {c.node: (c.category, [x.name for x in c.columns]) for c in report.changes} == {
        "model.lake.stg_events": ("partial", ["updated_at"])}
    # updated_at decides which versions the snapshot keeps: every column of it may change (rows),
    # and on through dbt_valid_from/dbt_valid_to to their readers in lake and dock
    assert impacts(report) == {
        SNAP: ("changed", ["customer_id", "dbt_scd_id", "dbt_updated_at", "dbt_valid_from", "dbt_valid_to", "tier",
                           "updated_at"]),
        HIST: ("changed", ["customer_id", "is_current", "tier", "valid_from", "valid_to"]),
        TENURE: ("changed", ["customer_id", "is_current", "member_since"]),
        "model.lake.events": ("changed", ["updated_at"]),
        "model.dock.event_totals": ("changed", ["last_event_at"]),
    }
    assert report.warnings == []  # no partial lineage anywhere
    assert report.conclusion == "success"


def test_a_change_no_snapshot_reader_reads_does_not_block(lake):
    """Only ``tier`` changes: the snapshot's ``tier`` and customer_history's ``tier`` may change;
    dock's customer_tenure reads valid_from and is_current (dbt_valid_from/to, which follow
    updated_at under the timestamp strategy): it is not reached, and nothing is unknown."""
    report = lake("snap-tier", [(STG, "'gold' as tier", "'silver' as tier")])
    assert impacts(report) == {SNAP: ("changed", ["tier"]), HIST: ("changed", ["tier"])}
    assert report.conclusion == "success"
