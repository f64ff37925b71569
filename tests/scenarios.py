"""PR scenarios on the example mesh: the edits each branch makes (shared by the tests)."""
from __future__ import annotations

import os

from bot.demo import DEMO_EDITS, EXAMPLES

MARTS = "shop/models/marts/_marts.yml"
CUSTOMERS_SQL = "shop/models/marts/customers.sql"


def _read(rel: str) -> str:
    with open(os.path.join(EXAMPLES, rel), encoding="utf-8") as handle:
        return handle.read()


def _customers_block() -> str:
    text = _read(MARTS)
    return text[text.index("  - name: customers\n"):text.index("  - name: orders\n")]


def _contract_column(name: str) -> str:
    text = _read(MARTS)
    start = text.index(f"      - name: {name}\n")
    return text[start:text.index("      - name:", start + 1)]


REFORMATTED = (
    "-- The public customers mart (reformatted: keywords, spacing, comments only)\n"
    + _read(CUSTOMERS_SQL)
    .replace("select\n", "SELECT\n").replace("select *", "SELECT *").replace("from ", "FROM ")
    .replace("left join", "LEFT   JOIN").replace("    on ", "  ON ").replace(" as ", " AS ")
)

SCENARIOS: dict[str, list] = {
    # issue 2
    "remove-public-model": [(CUSTOMERS_SQL, None, None), (MARTS, _customers_block(), "")],
    "make-public-model-private": [(MARTS, "    access: public\n", "    access: private\n")],
    "add-version-keep-old": [
        ("shop/models/marts/orders_v3.sql", None, _read("shop/models/marts/orders_v2.sql")),
        (MARTS, "      - v: 2\n", "      - v: 2\n      - v: 3\n"),
    ],
    "move-latest-version": [  # v3 drops order_channel and becomes latest: unpinned refs move to it
        ("shop/models/marts/orders_v3.sql", None,
         _read("shop/models/marts/orders_v2.sql").replace("    fulfillment.order_channel,\n", "")),
        (MARTS, "    latest_version: 2\n", "    latest_version: 3\n"),
        (MARTS, "      - v: 2\n", "      - v: 2\n      - v: 3\n        columns:\n          - include: all\n"
                                  "            exclude: [order_channel]\n"),
    ],
    "add-model": [("shop/models/marts/order_counts.sql", None,
                   "select customer_id, count(*) as order_count\nfrom {{ ref('stg_orders') }}\ngroup by customer_id\n")],
    "description-only": [(MARTS, "One row per customer account with order history and lifetime value.",
                          "One row per customer account, with its order history and lifetime value.")],
    "private-model-flows-into-public": [(
        "shop/models/intermediate/customer_ltv_private.sql",
        "case when status = 'returned' then 0 else amount_cents end",
        "case when status in ('returned', 'placed') then 0 else amount_cents end",
    )],
    # issue 3
    "rename-public-column": list(DEMO_EDITS),
    "remove-public-column": [
        (CUSTOMERS_SQL, "    customer_ltv.most_recent_order_date,\n", ""),
        (MARTS, _contract_column("most_recent_order_date"), ""),
    ],
    "change-expression": [(CUSTOMERS_SQL, "    customers.first_name,\n", "    upper(customers.first_name) as first_name,\n")],
    "add-where-filter": [(CUSTOMERS_SQL, None, _read(CUSTOMERS_SQL).rstrip("\n") + "\nwhere customers.country_code is not null\n")],
    "add-column": [
        (CUSTOMERS_SQL, "    customers.signup_date,\n", "    customers.signup_date,\n    customers.signup_date as signed_up_on,\n"),
        (MARTS, _contract_column("signup_date"), _contract_column("signup_date")
         + _contract_column("signup_date").replace("name: signup_date", "name: signed_up_on")),
    ],
    "reformat-only": [(CUSTOMERS_SQL, None, REFORMATTED)],
    "change-unread-column": [(
        CUSTOMERS_SQL, "coalesce(customer_ltv.number_of_orders, 0)", "coalesce(customer_ltv.number_of_orders, 0) + 0",
    )],
    # resilience (issue 3 §6): SQL that dbt compiles (it does not run it) but sqlglot cannot parse
    # (PostgreSQL's `ORDER BY ... USING <`): the change is `unknown` and gates
    "unparseable-sql": [(CUSTOMERS_SQL, None, _read(CUSTOMERS_SQL).rstrip("\n") + "\norder by customers.customer_id using <\n")],
    # contracts (issue 3 §5): the SQL gains a column the contract does not declare
    "add-column-without-contract": [
        (CUSTOMERS_SQL, "    customers.signup_date,\n", "    customers.signup_date,\n    customers.signup_date as signed_up_on,\n"),
    ],
}
