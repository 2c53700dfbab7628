"""SQL per page on the bench database: how many queries, which count rows, and how PostgreSQL plans them.

    python bench/queries.py --pages bench/out/pages.json --out bench/out/queries.json

Runs Django's test client in this process against the bench database (bench/run.py sets the
environment), captures every query of each page, and EXPLAINs the ones that read the audit table:
a sequential scan of it, or a COUNT(*) over all of it (or over all the keys), is what grows with years of history.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")

import django  # noqa: E402

django.setup()

from django.contrib.auth import get_user_model  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402

AUDIT_TABLE = "keys_auditevent"
# The tables that grow with the years: a COUNT(*) over the whole of either is what a page must not run.
LONG_TABLES = (AUDIT_TABLE, "keys_registeredkey")
COUNT = re.compile(r'^SELECT COUNT\(\*\) AS "__count"', re.IGNORECASE)


def seq_scans(plan: dict) -> list[str]:
    """Tables read by a sequential scan anywhere in an EXPLAIN (FORMAT JSON) plan."""
    found = [plan["Relation Name"]] if plan.get("Node Type") == "Seq Scan" else []
    for child in plan.get("Plans", []):
        found += seq_scans(child)
    return found


def explain(sql: str) -> dict:
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (FORMAT JSON) {sql}")
        return cursor.fetchone()[0][0]["Plan"]


def inspect(client: Client, url: str) -> dict:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url, HTTP_HOST="127.0.0.1")
    queries = [query["sql"] for query in captured.captured_queries]
    audit_reads = []
    for sql in queries:
        if AUDIT_TABLE not in sql or not sql.lstrip().upper().startswith("SELECT"):
            continue
        plan = explain(sql)
        audit_reads.append(
            {
                "sql": sql[:400],
                "count": bool(COUNT.match(sql)),
                "unfiltered_count": bool(COUNT.match(sql)) and " WHERE " not in sql.upper(),
                "seq_scan_of_audit": AUDIT_TABLE in seq_scans(plan),
                "planned_rows": plan.get("Plan Rows"),
                "top_node": plan.get("Node Type"),
            }
        )
    whole_table_counts = [
        sql[:400]
        for sql in queries
        if COUNT.match(sql) and " WHERE " not in sql.upper() and any(table in sql for table in LONG_TABLES)
    ]
    return {
        "url": url,
        "status": response.status_code,
        "queries": len(queries),
        # keys/pagination.py asks PostgreSQL's planner for the row count past 10,000 rows: one statement,
        # whatever the size of the history.
        "planner_estimates": sum(sql.lstrip().upper().startswith("EXPLAIN") for sql in queries),
        "audit_reads": audit_reads,
        "full_table_count": bool(whole_table_counts),
        "full_table_counts": whole_table_counts,
        "seq_scans_of_audit": sum(read["seq_scan_of_audit"] for read in audit_reads),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--pages", required=True, help='JSON: [{"name", "url", "user"}, ...]')
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    with open(args.pages) as file:
        pages = json.load(file)
    users = get_user_model().objects
    results = {}
    for page in pages:
        client = Client()
        client.force_login(users.get(username=page["user"]))
        client.get(page["url"], HTTP_HOST="127.0.0.1")  # warm: first-use imports and caches are not the page
        results[page["name"]] = inspect(client, page["url"])
    with open(args.out, "w") as file:
        json.dump(results, file, indent=2)


if __name__ == "__main__":
    main()
