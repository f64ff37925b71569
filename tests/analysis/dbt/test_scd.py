"""Snapshot meta columns are known columns (analysis.dbt.scd): the lineage of a snapshot has
them, computed from the columns dbt computes them from."""
from analysis.dbt.nodes import Node
from analysis.dbt.scd import with_meta_columns
from analysis.lineage.meshlineage import mesh_lineage
from analysis.mesh import build_mesh
from analysis.dbt.nodes import Project

SRC = "model.p.stg"
SNAP = "snapshot.p.snap"


def _lineage(config):
    stg = Node(SRC, "p", "stg", "model", relation_name='"db"."main"."stg"',
               compiled_sql="select 1 as id, 'x' as region, current_timestamp as updated_at, 2 as amount")
    snap = Node(SNAP, "p", "snap", "snapshot", relation_name='"db"."snapshots"."snap"', depends_on=(SRC,),
                compiled_sql=with_meta_columns('select id, region, updated_at from "db"."main"."stg"', config))
    reader = Node("model.p.reader", "p", "reader", "model", depends_on=(SNAP,),
                  compiled_sql='select id, dbt_valid_from as valid_from, dbt_valid_to is null as is_current '
                               'from "db"."snapshots"."snap"')
    mesh = build_mesh([Project("p", "duckdb", {n.unique_id: n for n in (stg, snap, reader)})])
    return mesh_lineage(mesh.nodes, mesh.upstream_first(), mesh.dialect_of)


def test_timestamp_strategy_meta_columns_come_from_updated_at():
    lin = _lineage({"strategy": "timestamp", "unique_key": "id", "updated_at": "updated_at"})
    snap = lin.models[SNAP]
    assert snap.status == "ok"
    assert list(snap.columns) == ["id", "region", "updated_at", "dbt_scd_id", "dbt_updated_at", "dbt_valid_from",
                                  "dbt_valid_to"]
    assert {u.ref.column for u in snap.columns["dbt_valid_from"]} == {"updated_at"}
    assert {u.ref.column for u in snap.columns["dbt_scd_id"]} == {"id", "updated_at"}
    assert {r.column for r in snap.row_shaping} == {"id", "updated_at"}
    reader = lin.models["model.p.reader"]
    assert reader.status == "ok" and list(reader.columns) == ["id", "valid_from", "is_current"]


def test_check_strategy_hard_deletes_and_renamed_meta_columns():
    lin = _lineage({"strategy": "check", "unique_key": ["id"], "check_cols": ["region"],
                    "hard_deletes": "new_record",
                    "snapshot_meta_column_names": {"dbt_valid_from": "valid_since", "dbt_valid_to": "dbt_valid_to"}})
    snap = lin.models[SNAP]
    assert list(snap.columns)[3:] == ["dbt_scd_id", "dbt_updated_at", "valid_since", "dbt_valid_to", "dbt_is_deleted"]
    assert snap.columns["valid_since"] == ()  # the time of the snapshot run
    assert {r.column for r in snap.row_shaping} == {"id", "region"}
    assert lin.schemas[SNAP]["dbt_is_deleted"] is not None
