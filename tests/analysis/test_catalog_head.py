"""`--catalog` describes the warehouse as it is: the base. A model the PR changes is not what the
catalog lists at head, so its retyped column is seen as it is without the catalog. Real dbt
compiles of the lakemesh fixture (``lake.stg_events`` read by ``lake.orders`` v2 and ``dock``)."""
import json

import pytest

from tests.lakemesh import analyze_lake, init_lake_repo

pytestmark = pytest.mark.dbt

STG = "lake/models/stg_events.sql"
TYPES = {"event_id": "INTEGER", "customer_id": "INTEGER", "updated_at": "TIMESTAMP", "amount": "INTEGER",
         "tier": "VARCHAR", "region": "VARCHAR"}


def catalog(path):
    cols = {n: {"name": n, "type": t, "index": i} for i, (n, t) in enumerate(TYPES.items(), 1)}
    data = {"metadata": {"dbt_schema_version": "https://schemas.getdbt.com/dbt/catalog/v1.json"},
            "nodes": {"model.lake.stg_events": {"columns": cols}}, "sources": {}}
    path.write_text(json.dumps(data))
    return str(path)


@pytest.mark.parametrize("with_catalog", [False, True])
def test_a_retype_in_a_model_the_catalog_describes_is_a_retype(tmp_path, meshdiff_cache, with_catalog):
    repo = init_lake_repo(str(tmp_path / "repo"))
    extra = ("--catalog", "lake=" + catalog(tmp_path / "catalog.json")) if with_catalog else ()
    proc, report = analyze_lake(repo, "retype", [(STG, "5 as amount", "'5' as amount")], cache=meshdiff_cache,
                                out=str(tmp_path / "r.json"), extra=extra)
    assert report is not None and report.errors == [], proc.stderr
    change = next(c for c in report.changes if c.node == "model.lake.stg_events")
    assert [(c.name, c.change) for c in change.columns] == [("amount", "retyped")]
    assert report.conclusion == "failure"
