"""Propagation of changed columns through a hand-built column graph (no dbt, no sqlglot)."""
from analysis.lineage.columns import ColumnRef, ModelLineage, Upstream
from analysis.impact.propagation import World, build_index, impacts_from_hits, propagate, reachable_columns
from analysis.mesh import build_mesh
from analysis.dbt.nodes import Node, Project

ORDERS = "model.shop.orders"
REVENUE = "model.finance.revenue"
STAR = "model.finance.orders_all"
OPAQUE = "model.finance.opaque"
KPI = "model.exec.kpi"
DASH = "exposure.finance.dashboard"


def up(node, col, kind="passthrough"):
    return Upstream(ColumnRef(node, col), kind)


def world():
    shop = Project("shop", "duckdb", {ORDERS: Node(ORDERS, "shop", "orders", "model", access="public",
                                                  compiled_sql="select ...")})
    finance = Project("finance", "duckdb", {
        REVENUE: Node(REVENUE, "finance", "revenue", "model", depends_on=(ORDERS,), owners=("Finance <f@x>",)),
        STAR: Node(STAR, "finance", "orders_all", "model", depends_on=(ORDERS,)),
        OPAQUE: Node(OPAQUE, "finance", "opaque", "model", depends_on=(ORDERS,)),
        DASH: Node(DASH, "finance", "dashboard", "exposure", depends_on=(REVENUE,)),
        ORDERS: Node(ORDERS, "shop", "orders", "model", injected=True),
    })
    exec_ = Project("exec", "duckdb", {
        KPI: Node(KPI, "exec", "kpi", "model", depends_on=(REVENUE, STAR)),
    })
    mesh = build_mesh([shop, finance, exec_])
    lineage = {
        REVENUE: ModelLineage(REVENUE, columns={
            "day": (up(ORDERS, "ordered_at", "derived"),),
            "total": (up(ORDERS, "amount", "derived"),),
        }, row_shaping=frozenset({ColumnRef(ORDERS, "status")})),
        STAR: ModelLineage(STAR, columns={c: (up(ORDERS, c),) for c in ("id", "amount", "status", "ordered_at", "email")}),
        OPAQUE: ModelLineage.unknown(OPAQUE, "sqlglot could not parse it"),
        KPI: ModelLineage(KPI, columns={
            "total": (up(REVENUE, "total"),),
            "n": (up(STAR, "id", "derived"),),
        }),
    }
    schemas = {
        ORDERS: dict.fromkeys(["id", "amount", "status", "ordered_at", "email"]),
        REVENUE: dict.fromkeys(["day", "total"]),
        STAR: dict.fromkeys(["id", "amount", "status", "ordered_at", "email"]),
        OPAQUE: dict.fromkeys(["x"]),
        KPI: dict.fromkeys(["total", "n"]),
    }
    return World(mesh, lineage, schemas)


def run(seeds):
    w = world()
    hits = propagate(build_index([w]), seeds)
    return {i.node: i for i in impacts_from_hits(hits, w.mesh)}


def test_removed_column_breaks_its_readers_and_flows_on():
    impacts = run({ORDERS: {"amount": "removed"}})
    assert impacts[REVENUE].severity == "breaking"
    assert impacts[REVENUE].columns == ["total"]
    assert impacts[REVENUE].owners == ["Finance <f@x>"]
    # select * re-exposes the loss: the column disappears there too
    assert impacts[STAR].severity == "breaking" and impacts[STAR].columns == ["amount"]
    # kpi reads revenue.total (its value changes) — not a removed column
    assert impacts[KPI].severity == "changed" and impacts[KPI].columns == ["total"]
    assert impacts[KPI].via == [f"{ORDERS}.amount", f"{REVENUE}.total", f"{KPI}.total"]
    assert impacts[DASH].severity == "changed" and impacts[DASH].columns == []
    assert impacts[OPAQUE].severity == "unknown"
    assert set(impacts) == {REVENUE, STAR, KPI, DASH, OPAQUE}


def test_unread_column_reaches_only_the_star_model():
    impacts = run({ORDERS: {"email": "removed"}})
    assert set(impacts) == {STAR, OPAQUE}
    assert impacts[STAR].columns == ["email"]


def test_row_shaping_column_changes_every_column_of_the_reader():
    impacts = run({ORDERS: {"status": "modified"}})
    assert impacts[REVENUE].severity == "changed"
    assert impacts[REVENUE].columns == ["day", "total"]
    assert impacts[KPI].columns == ["total"]
    assert impacts[DASH].severity == "changed"


def test_untouched_columns_do_not_propagate_to_precise_readers():
    impacts = run({ORDERS: {"ordered_at": "modified"}})
    assert impacts[REVENUE].columns == ["day"]
    # kpi reads revenue.total and orders_all.id only: ordered_at reaches neither
    assert KPI not in impacts


def test_whole_node_seed_of_a_failing_consumer():
    w = world()
    hits = propagate(build_index([w]), {}, node_seeds={REVENUE: ("breaking", "finance no longer compiles")})
    impacts = {i.node: i for i in impacts_from_hits(hits, w.mesh)}
    assert impacts[REVENUE].severity == "breaking"
    assert "finance no longer compiles" in impacts[REVENUE].reasons[0]
    assert impacts[KPI].severity == "changed" and impacts[DASH].severity == "changed"


def test_reachable_columns_counts_values_and_row_shaping():
    w = world()
    index = build_index([w])
    assert reachable_columns(index, ColumnRef(ORDERS, "status")) == sorted([
        f"{REVENUE}.day", f"{REVENUE}.total", f"{STAR}.status", f"{KPI}.total", DASH, f"{OPAQUE}.x",
    ])


def test_reachable_columns_go_through_a_model_whose_lineage_and_columns_are_unknown():
    """orders.status -> opaque (unparseable, no known columns) -> reader.y: the walk goes on, as
    the impact analysis does; it must not stop at the opaque model."""
    w = world()
    reader = "model.exec.reader"
    exec_ = w.mesh.projects["exec"]
    exec_.nodes[reader] = Node(reader, "exec", "reader", "model", depends_on=(OPAQUE,))
    w = World(build_mesh(list(w.mesh.projects.values())), {**w.lineage, reader: ModelLineage(
        reader, columns={"y": (up(OPAQUE, "x", "derived"),)})}, {**w.schemas, OPAQUE: {}, reader: {"y": None}})
    reached = reachable_columns(build_index([w]), ColumnRef(ORDERS, "status"))
    assert OPAQUE in reached and f"{reader}.y" in reached


def test_a_seed_change_reaches_the_readers_of_the_source_on_its_table():
    """dbt Labs' pattern: the seed raw_orders loads the table the source ecom.raw_orders reads;
    the staging model reads the source. A change of the seed's column reaches it, column by column."""
    seed, source, stg = "seed.platform.raw_orders", "source.platform.ecom.raw_orders", "model.platform.stg_orders"
    other = "source.platform.ecom.raw_items"
    rel = '"jaffle"."raw"."raw_orders"'
    platform = Project("platform", "duckdb", {
        seed: Node(seed, "platform", "raw_orders", "seed", relation_name=rel),
        source: Node(source, "platform", "ecom.raw_orders", "source", relation_name=rel.upper()),
        other: Node(other, "platform", "ecom.raw_items", "source", relation_name='"jaffle"."raw"."raw_items"'),
        stg: Node(stg, "platform", "stg_orders", "model", depends_on=(source, other)),
    })
    mesh = build_mesh([platform])
    lineage = {stg: ModelLineage(stg, columns={"order_id": (up(source, "id", "renamed"),),
                                               "total": (up(source, "amount", "derived"),),
                                               "sku": (up(other, "sku"),)})}
    w = World(mesh, lineage, {seed: dict.fromkeys(["id", "amount"]), source: {},
                              other: dict.fromkeys(["sku"]), stg: dict.fromkeys(["order_id", "total", "sku"])})
    index = build_index([w])
    assert reachable_columns(index, ColumnRef(seed, "amount")) == [f"{stg}.total", f"{source}.amount"]
    assert reachable_columns(index, ColumnRef(seed, "id")) == [f"{stg}.order_id", f"{source}.id"]
    # the other source has no writer in the mesh: nothing reaches it
    assert reachable_columns(index, ColumnRef(other, "sku")) == [f"{stg}.sku"]


def _partial_world(lineage):
    src, reader = "source.shop.raw.events", "model.shop.stg_events"
    shop = Project("shop", "duckdb", {src: Node(src, "shop", "raw.events", "source"),
                                      reader: Node(reader, "shop", "stg_events", "model", depends_on=(src,))})
    w = World(build_mesh([shop]), {reader: lineage(reader, src)}, {src: {}, reader: {}})
    return build_index([w]), src, reader


def test_a_star_over_unknown_columns_carries_a_column_under_its_own_name_only():
    # select *, upper(kind) as kind_upper from raw.events (whose columns are not known)
    def lineage(reader, src):
        return ModelLineage(reader, columns={"kind_upper": (up(src, "kind", "derived"),)}, status="partial",
                            unknown_columns=frozenset({"*"}), reason="`select *` over raw.events: columns unknown")
    index, src, reader = _partial_world(lineage)
    assert reachable_columns(index, ColumnRef(src, "channel")) == [f"{reader}.channel"]
    assert reachable_columns(index, ColumnRef(src, "kind")) == [f"{reader}.kind_upper"]
    hits = propagate(index, {src: {"channel": "modified"}})
    assert {(k, h.severity) for k, h in hits.items()} == {((reader, "channel"), "unknown")}


def test_rows_decided_by_an_untraced_column_make_the_star_the_whole_node():
    # every traced column is unknown too: which rows come out is not known
    def lineage(reader, src):
        return ModelLineage(reader, columns={"kind_upper": (up(src, "kind", "derived"),)}, status="partial",
                            unknown_columns=frozenset({"*", "kind_upper"}), reason="rows decided by `x`")
    index, src, reader = _partial_world(lineage)
    assert reachable_columns(index, ColumnRef(src, "channel")) == [reader, f"{reader}.kind_upper"]


def test_a_reader_partial_for_an_unresolved_table_is_the_whole_node_not_a_made_up_column():
    # select id, amount from a table that matches no node (its upstream version was removed):
    # the reader has no star, so an upstream column it does not name is not one of its columns
    def lineage(reader, src):
        return ModelLineage(reader, columns={"id": (), "amount": ()}, status="partial",
                            reason="reads tables outside the mesh: main.events_v1",
                            unresolved_tables=("main.events_v1",))
    index, src, reader = _partial_world(lineage)
    assert reachable_columns(index, ColumnRef(src, "channel")) == [reader]
    hits = propagate(index, {src: {"channel": "removed"}})
    assert set(hits) == {(reader, "*")}


def test_owners_and_handles_come_from_the_base_where_the_node_exists_there():
    # a PR that rewrites a group's owner (and handle) cannot choose whom the comment pings
    from dataclasses import replace
    base = world()
    head_nodes = dict(base.mesh.nodes)
    head_nodes[REVENUE] = replace(head_nodes[REVENUE], owners=("Mallory <m@x>",), handles=("@mallory",))
    head = replace(base.mesh, nodes=head_nodes)
    hits = propagate(build_index([base]), {ORDERS: {"amount": "removed"}})
    impact = {i.node: i for i in impacts_from_hits(hits, head, base.mesh)}[REVENUE]
    assert impact.owners == ["Finance <f@x>"] and "@mallory" not in impact.handles


def _naming_world():
    # model.finance.slim: `with j as (select id, upper(status) as s from orders) select id from j`
    slim, down = "model.finance.slim", "model.finance.slim_users"
    shop = Project("shop", "duckdb", {ORDERS: Node(ORDERS, "shop", "orders", "model", access="public")})
    finance = Project("finance", "duckdb", {
        slim: Node(slim, "finance", "slim", "model", depends_on=(ORDERS,)),
        down: Node(down, "finance", "slim_users", "model", depends_on=(slim,)),
        ORDERS: Node(ORDERS, "shop", "orders", "model", injected=True),
    })
    lineage = {
        slim: ModelLineage(slim, columns={"id": (up(ORDERS, "id"),)},
                           referenced=frozenset({ColumnRef(ORDERS, "id"), ColumnRef(ORDERS, "status")})),
        down: ModelLineage(down, columns={"id": (up(slim, "id"),)}, referenced=frozenset({ColumnRef(slim, "id")})),
    }
    schemas = {ORDERS: dict.fromkeys(["id", "status", "amount"]), slim: {"id": None}, down: {"id": None}}
    w = World(build_mesh([shop, finance]), lineage, schemas)
    return w, slim, down


def test_a_removed_or_renamed_column_the_sql_names_but_does_not_use_breaks_the_model():
    w, slim, down = _naming_world()
    for kind, verb in (("removed", "removes"), ("renamed", "renames")):
        impacts = {i.node: i for i in impacts_from_hits(propagate(build_index([w]), {ORDERS: {"status": kind}}), w.mesh)}
        assert impacts[slim].severity == "breaking"
        assert impacts[slim].columns == []  # the whole model: none of its columns is built
        assert impacts[slim].reasons == [f"its SQL names `status` of {ORDERS}, which this change {verb}: "
                                         "the model no longer builds"]
        assert impacts[down].severity == "breaking"  # built from a model that no longer builds


def test_a_named_but_unused_column_whose_values_change_changes_nothing():
    w, slim, down = _naming_world()
    assert propagate(build_index([w]), {ORDERS: {"status": "modified"}}) == {}
    # a column the SQL does not name at all: no impact, removed or not
    assert propagate(build_index([w]), {ORDERS: {"amount": "removed"}}) == {}


def test_naming_makes_a_reader_even_without_graph_edges():
    w, slim, _ = _naming_world()
    lineage = {slim: ModelLineage(slim, columns={"one": ()}, referenced=frozenset({ColumnRef(ORDERS, "status")}))}
    bare = World(w.mesh, lineage, w.schemas, readers=None)
    bare.mesh.graph.remove_edge(ORDERS, slim)
    hits = propagate(build_index([bare]), {ORDERS: {"status": "removed"}})
    assert hits[(slim, "*")].severity == "breaking"


def test_a_reader_that_named_the_column_in_the_base_world_only_is_still_hit():
    # the head world traced the reader after the column was gone: its lineage may not name it
    w, slim, _ = _naming_world()
    head = World(w.mesh, {**w.lineage, slim: ModelLineage(slim, columns={"id": (up(ORDERS, "id"),)})}, w.schemas)
    hits = propagate(build_index([head, w]), {ORDERS: {"status": "removed"}})
    assert hits[(slim, "*")].severity == "breaking"


def test_a_named_but_unused_column_retyped_is_unknown_whether_the_model_builds():
    # `upper(status)` binds over a string, not over an integer (DuckDB): not proven harmless
    w, slim, down = _naming_world()
    impacts = {i.node: i for i in impacts_from_hits(propagate(build_index([w]), {ORDERS: {"status": "retyped"}}), w.mesh)}
    assert impacts[slim].severity == "unknown" and impacts[slim].columns == []
    assert impacts[slim].reasons == [f"its SQL names `status` of {ORDERS}, which this change retypes: "
                                     "whether the model still builds is not proven"]
    assert impacts[down].severity == "unknown"
