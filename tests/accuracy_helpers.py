"""Helpers of the data-based accuracy check (``tests/analysis/test_accuracy_data.py``).

Two halves:

- a build runner, run as a script in a subprocess: builds the example mesh once per job
  into a fresh DuckDB file with real dbt (``dbt build`` of shop without tests, ``dbt run`` of
  finance and exec_reporting), with the job's perturbed files swapped in, and snapshots
  every table and view of the file while those files are in place (the source
  ``raw.order_events`` is a ``read_csv`` view: it reads the CSV when queried). All jobs run
  in one Python process through ``dbtRunner``, which saves the ~3 s of imports per dbt call;
- the perturbations (one upstream column each) and the comparison of snapshots.
"""
from __future__ import annotations

import csv
import io
import json
import os
import pickle
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Callable

PROJECTS = ("shop", "finance", "exec_reporting")
BUILD_STEPS = (
    ("shop", ["build", "--exclude", "resource_type:test"]),
    ("finance", ["run"]),
    ("exec_reporting", ["run"]),
)


# --------------------------------------------------------------------------- runner
def _snapshot(db_path: str) -> dict[str, dict]:
    """table or view name -> {"columns": [...], "rows": [tuple, ...]} of schema main."""
    import duckdb

    # dbt-duckdb keeps its database instance open after the invocation (read_only=False, no
    # config); a second connection in this process must use the same configuration.
    con = duckdb.connect(db_path)
    try:
        names = [r[0] for r in con.execute(
            "select table_name from information_schema.tables where table_schema = 'main' order by 1").fetchall()]
        out = {}
        for name in names:
            cur = con.execute(f'select * from main."{name}"')
            out[name] = {"columns": [d[0].lower() for d in cur.description], "rows": cur.fetchall()}
        return out
    finally:
        con.close()


def _failures(res) -> str:
    lines = []
    if res.exception is not None:
        lines.append(repr(res.exception))
    for r in getattr(res.result, "results", None) or []:
        status = str(getattr(r, "status", ""))
        if status.lower() not in ("success", "pass", "runstatus.success", "nodestatus.success"):
            lines.append(f"{r.node.unique_id}: {status}: {getattr(r, 'message', '')}")
    return "\n".join(lines) or "dbt reported failure"


def run_jobs(plan: dict) -> list[dict]:
    from dbt.cli.main import dbtRunner

    root = plan["root"]
    # another mesh (tests/analysis/test_accuracy_precision.py) names its steps and DuckDB variable
    steps = [(project, list(args)) for project, args in plan.get("steps") or BUILD_STEPS]
    db_variable = plan.get("db_variable", "MESHDIFF_EXAMPLES_DB")
    if "steps" not in plan:
        os.environ["SHOP_DATA_DIR"] = os.path.join(root, "shop", "data")
    os.environ["DBT_SEND_ANONYMOUS_USAGE_STATS"] = "false"
    os.environ.pop("DBT_LOOM_CONFIG", None)
    results = []
    for job in plan["jobs"]:
        started = time.monotonic()
        originals = {}
        for rel, text in job["files"].items():
            path = os.path.join(root, rel)
            with open(path, encoding="utf-8") as handle:
                originals[path] = handle.read()
            with open(path, "w", encoding="utf-8") as handle:
                handle.write(text)
        os.environ[db_variable] = job["db"]
        error = None
        try:
            for project, args in steps:
                os.chdir(os.path.join(root, project))
                _log(f"job {len(results) + 1}/{len(plan['jobs'])} {job['name']}: dbt {args[0]} {project}")
                res = dbtRunner().invoke([*args, "--profiles-dir", ".", "--project-dir", ".", "--quiet"])
                if not res.success:
                    error = f"dbt {args[0]} {project} failed:\n{_failures(res)}"
                    break
            if error is None:
                # views over files relative to a project (read_csv('data/...')) read them from there
                os.chdir(os.path.join(root, plan.get("snapshot_in", "")))
                with open(job["snapshot"], "wb") as handle:
                    pickle.dump(_snapshot(job["db"]), handle)
                if not job.get("keep_db", True):
                    os.remove(job["db"])  # ~4 MB each; the snapshot is what the test reads
        except Exception as exc:  # noqa: BLE001 - reported to the test
            error = f"{type(exc).__name__}: {exc}"
        finally:
            os.chdir(root)
            for path, text in originals.items():
                with open(path, "w", encoding="utf-8") as handle:
                    handle.write(text)
        results.append({"name": job["name"], "error": error, "seconds": round(time.monotonic() - started, 2)})
        _log(f"job {len(results)}/{len(plan['jobs'])} {job['name']}: {'ok' if error is None else 'FAILED'} "
             f"in {results[-1]['seconds']}s")
    return results


def _log(text: str) -> None:
    print(f"[accuracy] {time.strftime('%H:%M:%S')} {text}", file=sys.stderr, flush=True)


def wait_while_logging(proc, log_path, stall_s: float, echo=None, poll_s: float = 2.0) -> bool:
    """Wait for ``proc`` as long as it keeps writing to ``log_path``; ``True`` if it stayed
    silent for ``stall_s`` seconds (the caller stops it). New log lines go to ``echo``. No
    limit on the total time: a loaded machine makes every step slower, not silent."""
    seen, quiet_since = 0, time.monotonic()
    while proc.poll() is None:
        try:
            proc.wait(timeout=poll_s)
        except subprocess.TimeoutExpired:
            pass
        size = os.path.getsize(log_path)
        if size != seen:
            if echo is not None:
                with open(log_path, "rb") as handle:
                    handle.seek(seen)
                    echo.write(handle.read(size - seen).decode("utf-8", "replace"))
                    echo.flush()
            seen, quiet_since = size, time.monotonic()
        elif time.monotonic() - quiet_since > stall_s:
            return True
    return False


def main(argv: list[str]) -> int:
    plan_path, results_path = argv
    with open(plan_path, encoding="utf-8") as handle:
        plan = json.load(handle)
    results = run_jobs(plan)
    with open(results_path, "w", encoding="utf-8") as handle:
        json.dump(results, handle, indent=2)
    return 0


# --------------------------------------------------------------------------- perturbations
SHOP_SEEDS = "shop/seeds"
EVENTS_CSV = "shop/data/order_events.csv"
EVENTS_SOURCE = "source.shop.raw.order_events"


@dataclass(frozen=True)
class Perturbation:
    """Change the values of one column of one CSV: ``change(value, row_index) -> value``."""

    node: str      # unique id of the upstream node: seed.shop.raw_orders, source.shop.raw.order_events
    column: str
    file: str      # path of the CSV relative to the examples copy
    how: str       # human description
    change: Callable[[str, int], str]

    @property
    def name(self) -> str:
        # seed.shop.raw_orders -> raw_orders; source.shop.raw.order_events -> raw.order_events
        return f"{self.node.split('.', 2)[2]}.{self.column}"


def perturb_csv(text: str, column: str, change: Callable[[str, int], str]) -> tuple[str, int]:
    """Return the CSV with ``column`` rewritten, and how many of its cells changed."""
    reader = csv.reader(io.StringIO(text))
    header = next(reader)
    idx = header.index(column)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    changed = 0
    for i, row in enumerate(reader):
        if not row:
            continue
        new = change(row[idx], i)
        changed += new != row[idx]
        row[idx] = new
        writer.writerow(row)
    return out.getvalue(), changed


def _shift_date(days: int) -> Callable[[str, int], str]:
    return lambda v, i: (date.fromisoformat(v) + timedelta(days=days)).isoformat()


def _shift_ts(hours: int) -> Callable[[str, int], str]:
    fmt = "%Y-%m-%d %H:%M:%S"
    return lambda v, i: (datetime.strptime(v, fmt) + timedelta(hours=hours)).strftime(fmt)


def _every(n: int, mapping: dict[str, str]) -> Callable[[str, int], str]:
    """Map values with ``mapping`` on every n-th row (others untouched)."""
    return _on_every(n, lambda v, i: mapping.get(v, v))


def _on_every(n: int, change: Callable[[str, int], str]) -> Callable[[str, int], str]:
    """Apply ``change`` on every n-th row (others untouched)."""
    return lambda v, i: change(v, i) if i % n == 0 else v


def _seed(name: str, column: str, how: str, change) -> Perturbation:
    return Perturbation(f"seed.shop.{name}", column, f"{SHOP_SEEDS}/{name}.csv", how, change)


def _event(column: str, how: str, change) -> Perturbation:
    return Perturbation(EVENTS_SOURCE, column, EVENTS_CSV, how, change)


STATUS_CYCLE = {"placed": "shipped", "shipped": "completed", "completed": "returned", "returned": "placed"}
METHOD_CYCLE = {"credit_card": "bank_transfer", "bank_transfer": "coupon", "coupon": "gift_card",
                "gift_card": "credit_card"}

PERTURBATIONS: list[Perturbation] = [
    # raw_orders
    _seed("raw_orders", "status", "every 2nd order: placed->shipped->completed->returned->placed",
          _every(2, STATUS_CYCLE)),
    _seed("raw_orders", "order_date", "every 2nd order +45 days (crosses months, reorders orders)",
          _on_every(2, _shift_date(45))),
    _seed("raw_orders", "user_id", "customer ids remapped: u -> u % 30 + 1 (orders move to other customers)",
          lambda v, i: str(int(v) % 30 + 1)),
    _seed("raw_orders", "id", "order ids > 50 -> id + 100 (they lose their payments and events)",
          lambda v, i: str(int(v) + 100) if int(v) > 50 else v),
    # raw_payments
    _seed("raw_payments", "amount", "every 2nd payment x3, the others +7 cents (reorders customers by spend)",
          lambda v, i: str(int(v) * 3) if i % 2 == 0 else str(int(v) + 7)),
    _seed("raw_payments", "payment_method", "every 2nd payment: credit_card->bank_transfer->coupon->gift_card->credit_card",
          _every(2, METHOD_CYCLE)),
    _seed("raw_payments", "order_id", "every 5th payment moved to order (o % 60) + 1",
          lambda v, i: str(int(v) % 60 + 1) if i % 5 == 0 else v),
    _seed("raw_payments", "id", "payment ids + 1000", lambda v, i: str(int(v) + 1000)),
    # raw_customers
    _seed("raw_customers", "country_code", "US->BR, BR->US, JP->DE (finance filters BR, JP)",
          lambda v, i: {"US": "BR", "BR": "US", "JP": "DE"}.get(v, v)),
    _seed("raw_customers", "id", "ids 1..12 rotated (k -> k % 12 + 1), id 30 -> 31 (orphaned)",
          lambda v, i: str(int(v) % 12 + 1) if int(v) <= 12 else ("31" if v == "30" else v)),
    _seed("raw_customers", "first_name", "append 'x'", lambda v, i: v + "x"),
    _seed("raw_customers", "last_name", "every 3rd emptied (NULL), the others get 'x' appended",
          lambda v, i: "" if i % 3 == 0 else v + "x"),
    _seed("raw_customers", "email", "append 'x'", lambda v, i: v + "x"),
    _seed("raw_customers", "signup_date", "-10 days", _shift_date(-10)),
    # source raw.order_events (read_csv)
    _event("channel", "web->app->store->web", lambda v, i: {"web": "app", "app": "store", "store": "web"}.get(v, v)),
    _event("event_type", "every 2nd 'shipped' event -> 'created'", _every(2, {"shipped": "created"})),
    _event("event_ts", "every 3rd event +36 hours (reorders some events of an order)", _on_every(3, _shift_ts(36))),
    _event("order_id", "every 4th event moved to order (o % 60) + 1",
           lambda v, i: str(int(v) % 60 + 1) if i % 4 == 0 else v),
    _event("event_id", "event ids + 1000", lambda v, i: str(int(v) + 1000)),
]


# --------------------------------------------------------------------------- comparison
def _sort_key(value):
    return (value is None, value)


def column_values(snapshot: dict[str, dict]) -> dict[tuple[str, str], list]:
    """(table, column) -> sorted list of the column's values (one entry per row)."""
    out = {}
    for table, data in snapshot.items():
        for i, col in enumerate(data["columns"]):
            out[(table, col)] = sorted((row[i] for row in data["rows"]), key=_sort_key)
    return out


def changed_columns(base: dict[str, dict], new: dict[str, dict]) -> set[tuple[str, str]]:
    """Columns whose sorted value list differs (this also catches row-count changes)."""
    a, b = column_values(base), column_values(new)
    assert a.keys() == b.keys(), f"tables/columns differ: {sorted(a.keys() ^ b.keys())}"
    return {key for key in a if a[key] != b[key]}


#: identifier columns that name a row of the example mesh's tables
KEY_CANDIDATES = ("order_id", "customer_id", "payment_id", "event_id")


def keyed_changed_columns(base: dict[str, dict], new: dict[str, dict],
                          stable: Callable[[str, str], bool]) -> set[tuple[str, str]]:
    """Columns whose value *per row* changed, where rows are matched on an identifier column.

    Stricter than :func:`changed_columns`: it also sees values moved between rows (a sorted
    list does not). A table is compared this way only if it has an identifier column
    ``k`` (``KEY_CANDIDATES``) that is unique in both snapshots, has the same values in both
    and for which ``stable(table, k)`` holds. The caller passes "no chain of value lineage
    leads from the perturbed column to k": k then still names the same upstream row (rows
    may come and go, which the equal-key-set condition handles), so a value that differs
    for the same k changed. (Were that value lineage wrong, k itself would change, which
    :func:`changed_columns` sees unless the change were a mere permutation of k.)
    """
    out = set()
    for table, data in base.items():
        cols = data["columns"]
        other = new[table]
        for key in KEY_CANDIDATES:
            if key not in cols or not stable(table, key):
                continue
            k = cols.index(key)
            before = {row[k]: row for row in data["rows"]}
            after = {row[k]: row for row in other["rows"]}
            if len(before) != len(data["rows"]) or len(after) != len(other["rows"]) or before.keys() != after.keys():
                continue
            for i, col in enumerate(cols):
                if any(before[v][i] != after[v][i] for v in before):
                    out.add((table, col))
            break
    return out


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
