"""`--catalog PROJECT=FILE`: the shape of catalog.json is checked and PROJECT picks its nodes."""
import json

import pytest

from analysis.errors import AnalysisError
from analysis.dbt import read_catalogs

CATALOG = {
    "metadata": {"dbt_schema_version": "https://schemas.getdbt.com/dbt/catalog/v1.json"},
    "nodes": {
        "model.shop.customers": {"columns": {
            "LIFETIME_VALUE": {"name": "LIFETIME_VALUE", "type": "NUMBER(18,2)", "index": 2},
            "CUSTOMER_ID": {"name": "CUSTOMER_ID", "type": "NUMBER(38,0)", "index": 1},
        }},
        "model.shop.orders.v2": {"columns": {"ID": {"name": "ID", "type": "NUMBER", "index": 1}}},
        "model.finance.revenue": {"columns": {"TOTAL": {"name": "TOTAL", "type": "FLOAT", "index": 1}}},
    },
    "sources": {
        "source.shop.raw.orders": {"columns": {"ID": {"name": "ID", "type": "NUMBER", "index": 1}}},
    },
}


def write(tmp_path, data, name="catalog.json"):
    path = tmp_path / name
    path.write_text(json.dumps(data) if not isinstance(data, str) else data)
    return str(path)


def test_only_the_named_projects_nodes_are_taken(tmp_path):
    got = read_catalogs({"shop": write(tmp_path, CATALOG)})
    assert got == {
        "model.shop.customers": {"customer_id": "NUMBER(38,0)", "lifetime_value": "NUMBER(18,2)"},
        "model.shop.orders.v2": {"id": "NUMBER"},
        "source.shop.raw.orders": {"id": "NUMBER"},
    }
    assert list(got["model.shop.customers"]) == ["customer_id", "lifetime_value"]  # by index
    assert read_catalogs({"finance": write(tmp_path, CATALOG)}) == {"model.finance.revenue": {"total": "FLOAT"}}


@pytest.mark.parametrize("data, needle", [
    ([1, 2], "is not a dbt catalog"),
    ("\"just a string\"", "is not a dbt catalog"),
    ({"nodes": [], "sources": {}}, "is not a dbt catalog"),
    ({"metadata": {}}, "is not a dbt catalog"),
    ({"nodes": {"model.shop.x": {"columns": ["a"]}}, "sources": {}}, "`model.shop.x` has no `columns` object"),
    ({"nodes": {"model.shop.x": "nope"}, "sources": {}}, "`model.shop.x` has no `columns` object"),
    ({"nodes": {"model.finance.revenue": {"columns": {}}}, "sources": {}},
     "holds no node of project shop (it holds nodes of: finance)"),
    ("{not json", "cannot read catalog"),
])
def test_bad_catalogs_are_clear_errors(tmp_path, data, needle):
    with pytest.raises(AnalysisError) as info:
        read_catalogs({"shop": write(tmp_path, data)})
    assert needle in str(info.value)
    assert "dbt docs generate" in info.value.hint


def test_missing_file(tmp_path):
    with pytest.raises(AnalysisError, match="cannot read catalog"):
        read_catalogs({"shop": str(tmp_path / "nope.json")})
