"""Shopify's GraphQL Admin API and its bulk operations (vendor-apis.md §3a).

- `GraphQL.query`: POST graphql.json through the shared session (HTTP retries, the renewable token). Errors
  arrive as HTTP 200 with `errors[]`: `THROTTLED` waits until the cost bucket holds the query's cost and
  `INTERNAL_SERVER_ERROR` backs off, both retried; `ACCESS_DENIED` (a missing scope, named) and any other
  error (a query the schema rejects) fail at once. Every answer's `extensions.cost.throttleStatus` paces the
  next query, so steady state sees no THROTTLED.
- `bulk_records`: one `bulkOperationRunQuery` per window, polled until it ends. The JSONL is streamed to a
  file beside landing (never whole in memory), then DuckDB puts each child line (its `__parentId`) under its
  parent whatever the line order, and the records come out in batches. A FAILED operation is run again whole
  (its partial data is never used), an expired download URL runs the operation again, a CANCELED or EXPIRED
  one fails the extract saying so.
- Refunds: Shopify refuses a bulk query with a connection inside a list field, and an order's `refunds` is a
  list. The bulk file carries each refund's own fields; `Bulk.refunds` then reads the transactions, refund lines
  and adjustments of just the orders that have refunds with ordinary `nodes(ids:)` queries, in a thread of its
  own while the orders without refunds land, and DuckDB puts them in place of the bulk file's refunds before
  those orders land. An order never lands with the bulk file's refunds alone.
"""

from __future__ import annotations

import json
import logging
import random
import re
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime
from pathlib import Path

import duckdb
import msgspec
import urllib3

from ingest.http import FatalHTTPError, VendorSession
from ingest.shopify.auth import SCOPES, missing_scope
from ingest.sql import literal
from settings import duckdb_memory_limit, shopify_bulk_memory_limit

log = logging.getLogger(__name__)
MAX_ERROR_RETRIES = 6
MAX_RUNS = 4  # bulk operations per window before giving up (FAILED, expired URL)
# A poll costs 1 point of the 100+ a second the bucket restores: polling each second at most is cheap, and a file
# that is ready waits at most a second (a 10 s cap left a finished demo operation unread for 4 s: DECISIONLOG.md)
POLL_FIRST_S, POLL_MAX_S = 0.2, 1.0
BATCH = 2000


class GraphQLError(FatalHTTPError):
    """A query the API refused (not transient)."""


class BulkOperationEnded(FatalHTTPError):
    """A bulk operation was cancelled or expired on Shopify's side: reported, never taken as empty."""


class GraphQL:
    def __init__(self, session: VendorSession):
        self.session = session
        self.available: float | None = None  # cost points in the bucket after the last answer
        self.restore = 100.0
        self.stamp = time.monotonic()
        self.throttled = 0  # THROTTLED answers (steady state: none)
        self.spent = 0.0  # actual cost points of every answered query (what the rate limit charges)

    def _pace(self, cost: float) -> None:
        if self.available is None:
            return
        have = self.available + (time.monotonic() - self.stamp) * self.restore
        if have < cost:
            time.sleep((cost - have) / self.restore)

    def _note_cost(self, body: dict) -> dict:
        cost = ((body.get("extensions") or {}).get("cost")) or {}
        status = cost.get("throttleStatus") or {}
        self.spent += float(cost.get("actualQueryCost") or 0)
        if "currentlyAvailable" in status:
            self.available = float(status["currentlyAvailable"])
            self.restore = float(status.get("restoreRate") or self.restore)
            self.stamp = time.monotonic()
        return cost

    def query(self, text: str, variables: dict | None = None, cost: float = 10.0) -> dict:
        conn = self.session.conn_id
        for attempt in range(1, MAX_ERROR_RETRIES + 1):
            self._pace(cost)
            body = self.session.post_json("/graphql.json", {"query": text, "variables": variables or {}}).body
            spent = self._note_cost(body)
            errors = body.get("errors") or []
            if not errors:
                return body.get("data") or {}
            codes = {((e.get("extensions") or {}).get("code")) for e in errors}
            message = "; ".join(str(e.get("message", ""))[:200] for e in errors)
            if "ACCESS_DENIED" in codes:
                scope = next((s for s in (*SCOPES, "read_orders") if s in message), None)
                if scope:
                    raise missing_scope(conn, scope)
                raise GraphQLError(f"{conn}: access denied by Shopify: {message}")
            if "THROTTLED" in codes:
                self.throttled += 1
                self.session.stats.throttled += 1
                wanted = float(spent.get("requestedQueryCost") or cost)
                self._pace(wanted)
                if self.available is None:
                    time.sleep(1.0)
                continue
            if "INTERNAL_SERVER_ERROR" in codes:
                self.session.stats.retries += 1
                time.sleep(min(10.0, 0.5 * 2**attempt) * random.uniform(0.5, 1.0))
                continue
            raise GraphQLError(f"{conn}: Shopify refused the query: {message}")
        raise GraphQLError(f"{conn}: GraphQL still throttled or failing after {MAX_ERROR_RETRIES} tries")


RUN = """mutation run($query: String!) {
  bulkOperationRunQuery(query: $query) { bulkOperation { id status } userErrors { field message code } }
}"""
POLL = """query poll($id: ID!) {
  bulkOperation(id: $id) { id status errorCode objectCount rootObjectCount url partialDataUrl }
}"""
MONEY = "shopMoney { amount currencyCode }"
# A bulk query may not select a connection inside a list field, and an order's `refunds` is a list: the bulk
# query takes the refunds' own fields, and REFUNDS pages their transactions, lines and adjustments with ordinary
# queries for just the orders that have refunds.
REFUND_FIELDS = f"id legacyResourceId createdAt totalRefundedSet {{ {MONEY} }}"
ORDER_FIELDS = f"""id legacyResourceId name number email createdAt updatedAt processedAt cancelledAt cancelReason
  test currencyCode tags displayFinancialStatus discountCodes
  subtotalPriceSet {{ {MONEY} }} totalPriceSet {{ {MONEY} }} totalDiscountsSet {{ {MONEY} }} totalTaxSet {{ {MONEY} }}
  customer {{ id legacyResourceId }}
  refunds {{ {REFUND_FIELDS} }}
  lineItems {{ edges {{ node {{ id sku quantity
    originalUnitPriceSet {{ {MONEY} }} totalDiscountSet {{ {MONEY} }} }} }} }}"""
CONNECTIONS = {"transactions": 100, "refundLineItems": 100, "orderAdjustments": 50}  # the most one refund can hold
REFUNDS = f"""query refunds($ids: [ID!]!) {{ nodes(ids: $ids) {{ ... on Order {{ id refunds {{ {REFUND_FIELDS}
  transactions(first: {CONNECTIONS["transactions"]}) {{ pageInfo {{ hasNextPage }}
    nodes {{ id kind status amountSet {{ {MONEY} }} }} }}
  refundLineItems(first: {CONNECTIONS["refundLineItems"]}) {{ pageInfo {{ hasNextPage }}
    nodes {{ lineItem {{ id }} quantity subtotalSet {{ {MONEY} }} }} }}
  orderAdjustments(first: {CONNECTIONS["orderAdjustments"]}) {{ pageInfo {{ hasNextPage }}
    nodes {{ id reason amountSet {{ {MONEY} }} }} }} }} }} }} }}"""
REFUND_BATCH = 50  # orders per REFUNDS query: requested cost about 500, under the 1,000 a query may ask
CUSTOMER_FIELDS = "id legacyResourceId email firstName lastName state tags createdAt updatedAt"
ROOTS = {"orders": ORDER_FIELDS, "customers": CUSTOMER_FIELDS}
CHILDREN = {"orders": {"LineItem": "lineItems"}, "customers": {}}  # a child line's gid type -> its list


def search(since: datetime | None, until: datetime | None) -> str:
    """Shopify's search syntax for an updated_at window: [since, until]."""
    terms = []
    if since is not None:
        terms.append(f"updated_at:>='{_z(since)}'")
    if until is not None:
        terms.append(f"updated_at:<='{_z(until)}'")
    return " AND ".join(terms)


def _z(ts: datetime) -> str:
    return ts.strftime("%Y-%m-%dT%H:%M:%S.%fZ") if ts.microsecond else ts.strftime("%Y-%m-%dT%H:%M:%SZ")


def bulk_query(root: str, since: datetime | None, until: datetime | None) -> str:
    where = search(since, until)
    args = f'(query: "{where}")' if where else ""
    return f"{{ {root}{args} {{ edges {{ node {{ {ROOTS[root]} }} }} }} }}"


class Bulk:
    """Bulk operations of one shop: run, poll, download, reassemble."""

    def __init__(self, gql: GraphQL, workdir: Path):
        self.gql = gql
        self.workdir = workdir
        self.downloads = urllib3.PoolManager()  # the file's URL is signed: no token goes with it
        self.runs = 0  # operations started (tests, the measurement)
        self.refund_queries = 0

    def records(self, root: str, since: datetime | None, until: datetime | None) -> Iterator[list[msgspec.Raw]]:
        """Every record of the window, children under their parents, in batches."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=self.workdir, prefix=".bulk-") as tmp:
            path = Path(tmp) / f"{root}.jsonl"
            self._run_to_file(root, bulk_query(root, since, until), path)
            details = self.refunds if root == "orders" else None
            yield from reassemble(path, CHILDREN[root], self.gql.session.conn_id, Path(tmp), details)

    def refunds(self, order_ids: list[str], out: Path, stop: threading.Event | None = None) -> None:
        """The full refunds of these orders (ordinary queries, REFUND_BATCH at a time) as JSONL lines
        `{"id": order gid, "refunds": [...]}`. An order gone since the bulk run, or a refund with more children
        than one page holds, fails the window rather than landing a refund without its money. Returns early,
        the file unfinished, once `stop` is set (the reassembly was abandoned)."""
        conn = self.gql.session.conn_id
        with out.open("w") as f:
            for i in range(0, len(order_ids), REFUND_BATCH):
                if stop is not None and stop.is_set():
                    return
                ids = order_ids[i : i + REFUND_BATCH]
                nodes = self.gql.query(REFUNDS, {"ids": ids}, cost=1 + 10 * len(ids))["nodes"]
                for want, node in zip(ids, nodes, strict=True):
                    if node is None or node.get("id") != want:
                        raise FatalHTTPError(f"{conn}: order {want} had refunds in the bulk file but is now gone")
                    for refund in node["refunds"]:
                        for name in CONNECTIONS:
                            if refund[name]["pageInfo"]["hasNextPage"]:
                                raise FatalHTTPError(
                                    f"{conn}: refund {refund['id']} has more {name} than {CONNECTIONS[name]}"
                                )
                    f.write(json.dumps(node, separators=(",", ":")) + "\n")
                self.refund_queries += 1

    def _run_to_file(self, root: str, query: str, path: Path) -> None:
        conn = self.gql.session.conn_id
        for run in range(1, MAX_RUNS + 1):
            op = self._start(query)
            self.runs += 1
            node = self._wait(op)
            status = node["status"]
            if status == "COMPLETED":
                if not node.get("url"):  # nothing matched: Shopify gives no file
                    path.write_bytes(b"")
                    return
                if self._download(node["url"], path):
                    return
                log.warning("%s: bulk %s download URL expired; running the operation again", conn, root)
                continue
            if status == "FAILED":
                log.warning(
                    "%s: bulk %s operation FAILED (%s)%s; running it again (run %d)",
                    conn,
                    root,
                    node.get("errorCode"),
                    ", its partial data discarded" if node.get("partialDataUrl") else "",
                    run,
                )
                continue
            raise BulkOperationEnded(f"{conn}: the bulk {root} operation ended {status} on Shopify's side")
        raise FatalHTTPError(f"{conn}: the bulk {root} operation did not complete in {MAX_RUNS} runs")

    def _start(self, query: str) -> str:
        waited = 0.0
        while True:
            data = self.gql.query(RUN, {"query": query})["bulkOperationRunQuery"]
            errors = data.get("userErrors") or []
            if not errors:
                return data["bulkOperation"]["id"]
            if any(e.get("code") == "OPERATION_IN_PROGRESS" for e in errors) and waited < 600:
                time.sleep(2.0)  # one at a time before 2026-01 (another app run, or ours from a killed task)
                waited += 2.0
                continue
            raise GraphQLError(f"{self.gql.session.conn_id}: bulk query refused: {errors[0].get('message')}")

    def _wait(self, op_id: str) -> dict:
        delay = POLL_FIRST_S
        while True:
            node = self.gql.query(POLL, {"id": op_id}, cost=1.0)["bulkOperation"]
            if node is None:
                raise GraphQLError(f"{self.gql.session.conn_id}: bulk operation {op_id} is unknown to Shopify")
            if node["status"] not in ("CREATED", "RUNNING", "CANCELING"):
                return node
            time.sleep(delay)
            delay = min(POLL_MAX_S, delay * 1.5)

    def _download(self, url: str, path: Path) -> bool:
        """Streams the JSONL into `path`; False when the URL has expired (403)."""
        for attempt in range(1, 6):
            try:
                r = self.downloads.urlopen("GET", url, preload_content=False, retries=False, redirect=False)
                try:
                    if r.status == 403:
                        return False
                    if r.status != 200:
                        raise urllib3.exceptions.HTTPError(f"HTTP {r.status}")
                    self.gql.session.stats.requests += 1
                    with path.open("wb") as out:
                        for chunk in r.stream(1 << 20):
                            out.write(chunk)
                    return True
                finally:
                    r.release_conn()
            except urllib3.exceptions.HTTPError as exc:
                log.warning("%s: bulk download failed (%s), retry %d", self.gql.session.conn_id, exc, attempt)
                time.sleep(0.5 * 2**attempt)
        raise FatalHTTPError(f"{self.gql.session.conn_id}: the bulk download kept failing")


def reassembly_connection(spill: Path) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB of the reassembly's own, under its cap (`reassembly_memory_limit`), spilling to
    `spill`."""
    con = duckdb.connect()
    con.execute(f"SET temp_directory = {literal(str(spill))}")  # a file bigger than memory spills here
    con.execute(f"SET memory_limit = {literal(reassembly_memory_limit())}")
    con.execute("SET preserve_insertion_order = false")  # every read below orders what it needs
    return con


def reassemble(
    path: Path,
    children: dict[str, str],
    conn_id: str,
    spill: Path,
    details: Callable[[list[str], Path, threading.Event], None] | None = None,
) -> Iterator[list[msgspec.Raw]]:
    """The records of a bulk JSONL file, each child line (a `__parentId`) put in its parent's list named by its
    gid type, in id order, whatever the line order. DuckDB reads the file (spilling, not holding it).
    `details(ids, file, stop)`, for records with refunds, writes `{"id", "refunds"}` lines whose refunds replace
    theirs; it runs in a thread of its own while the records without refunds come out (the vendor answers its
    queries while ours land: DECISIONLOG.md), then the records with refunds come out. Each part is in gid order;
    every record comes out once.

    Memory stays under the cap whatever the file's size: the lines table's blocks are evicted to `spill` (an
    on-disk database measured slower, at no saving), and the parents are put together in gid ranges, each at
    most 1/RANGE_SHARE of the cap's worth of the file, because the ordered lists of children and the sort of the
    records hold a whole range in memory (one query over all parents ran out of a 3 GB cap at 10 GB)."""
    con = reassembly_connection(spill)
    stop = threading.Event()
    fetching = ThreadPoolExecutor(1, thread_name_prefix="shopify-refunds")
    try:
        con.execute(
            f"""CREATE TABLE lines AS
                SELECT json AS j, json ->> '$.__parentId' AS parent, json ->> '$.id' AS gid
                FROM read_ndjson_objects({literal(str(path))})"""
        )
        (orphans,) = con.execute(
            "SELECT count(*) FROM lines c WHERE parent IS NOT NULL AND parent NOT IN (SELECT gid FROM lines)"
        ).fetchone()
        if orphans:
            raise FatalHTTPError(f"{conn_id}: the bulk file has {orphans} child lines whose parent is missing")
        size = path.stat().st_size
        if details is None:
            yield from _records(con, _parents_query(children), _ranges(con, size))
            return
        con.execute(
            """CREATE TABLE refunded AS
               SELECT j, gid FROM lines WHERE parent IS NULL AND json_array_length(j, '$.refunds') > 0"""
        )
        ids = [i for (i,) in con.execute("SELECT gid FROM refunded ORDER BY gid").fetchall()]
        extra = spill / "refunds.jsonl"
        fetched = fetching.submit(details, ids, extra, stop)
        ranges = _ranges(con, size)  # the second part's too: a range sized by its parents' share ran out of the cap
        rest = _parents_query(children, "NOT IN (SELECT gid FROM refunded)")
        yield from _records(con, rest, ranges, fetched)
        fetched.result()  # the details' own error, if any, fails the window here
        con.execute(
            f"""CREATE TABLE details AS SELECT json ->> '$.id' AS gid, json -> '$.refunds' AS refunds
                FROM read_ndjson_objects({literal(str(extra))})"""
        )
        (lines, got) = con.execute(
            "SELECT count(*), count(DISTINCT gid) FILTER (WHERE gid IN (SELECT gid FROM refunded)) FROM details"
        ).fetchone()
        if lines != got or got != len(ids):  # never an order dropped by the join below, nor one twice
            raise FatalHTTPError(f"{conn_id}: refund details came for {got} of the {len(ids)} orders with refunds")
        with_refunds = _parents_query(children, "IN (SELECT gid FROM refunded)", parents="refunded", details=True)
        yield from _records(con, with_refunds, ranges)
    finally:
        stop.set()  # an abandoned reassembly stops the details between two queries
        fetching.shutdown(wait=True)
        con.close()


def _parents_query(
    children: dict[str, str], scope: str = "IS NOT NULL", parents: str = "lines", details: bool = False
) -> str:
    """The records of the parents (rows of table `parents`) in [$lo, $hi) whose gid `scope` holds (an SQL
    predicate's tail), each with its children's lists and, with `details`, its refunds from the details table."""
    lists, joins = [], []
    for n, (kind, field) in enumerate(children.items()):
        prefix = f"gid://shopify/{kind}/"
        joins.append(
            f"""LEFT JOIN (SELECT parent, to_json(list(json_merge_patch(j, '{{"__parentId": null}}')
                            ORDER BY CAST(parse_filename(gid) AS BIGINT))) AS kids
                           FROM lines WHERE parent IS NOT NULL AND starts_with(gid, {literal(prefix)})
                             AND parent >= $lo AND parent < $hi AND parent {scope}
                           GROUP BY parent) AS c{n} ON c{n}.parent = p.gid"""
        )
        lists.append(f"{literal(field)}, coalesce(c{n}.kids, '[]'::JSON)")
    if details:
        joins.append("JOIN (SELECT * FROM details WHERE gid >= $lo AND gid < $hi) AS d ON d.gid = p.gid")
        lists.append("'refunds', d.refunds")
    record = f"json_merge_patch(p.j, json_object({', '.join(lists)}))" if lists else "p.j"
    where = f"p.parent IS NULL AND p.gid {scope}" if parents == "lines" else "TRUE"  # another table: its own rows
    return f"""SELECT {record}::VARCHAR FROM {parents} AS p {" ".join(joins)}
               WHERE {where} AND p.gid >= $lo AND p.gid < $hi ORDER BY p.gid"""


def _records(
    con: duckdb.DuckDBPyConnection, query: str, ranges: list[tuple[str, str]], beside: Future | None = None
) -> Iterator[list[msgspec.Raw]]:
    """The query's records, range by range, in batches; stops early when the work `beside` it has failed."""
    for lo, hi in ranges:
        cur = con.execute(query, {"lo": lo, "hi": hi})
        while rows := cur.fetchmany(BATCH):
            if beside is not None and beside.done() and beside.exception() is not None:
                beside.result()
            yield [msgspec.Raw(r[0].encode()) for r in rows]


RANGE_SHARE = 8  # see reassemble; measured in DECISIONLOG.md (Speed, the bulk reassembly's memory)
BYTES = {"bytes": 1, "B": 1, "KB": 10**3, "MB": 10**6, "GB": 10**9, "TB": 10**12}
BYTES |= {"KiB": 2**10, "MiB": 2**20, "GiB": 2**30, "TiB": 2**40}
SIZE = re.compile(r"\s*([0-9]+(?:\.[0-9]+)?)\s*([A-Za-z]*)\s*")


def size_bytes(text: str) -> int:
    """A DuckDB memory size ('3GB', '2.7 GiB', '512mb') in bytes: DuckDB's units, case aside."""
    m = SIZE.fullmatch(text)
    units = {u.lower(): b for u, b in BYTES.items()}
    if m is None or m.group(2).lower() not in units:
        raise ValueError(f"not a memory size DuckDB takes: {text!r}")
    return int(float(m.group(1)) * units[m.group(2).lower()])


def reassembly_memory_limit() -> str:
    """The reassembly connection's cap: SHOPIFY_BULK_MEMORY_LIMIT, or the warehouse's when that is lower (see
    settings.shopify_bulk_memory_limit: the extract process holds more than this connection)."""
    return min(shopify_bulk_memory_limit(), duckdb_memory_limit(), key=size_bytes)


def _ranges(con: duckdb.DuckDBPyConnection, size: int) -> list[tuple[str, str]]:
    """[lo, hi) bounds of parent gids (string order) each holding about as many parents, so many that each
    range's share of the file (`size` bytes) is at most 1/RANGE_SHARE of the memory cap. '' sorts before every
    gid and U+10FFFF after."""
    (limit,) = con.execute("SELECT current_setting('memory_limit')").fetchone()
    count = -(-size * RANGE_SHARE // size_bytes(str(limit)))
    bounds = [""]
    if count > 1:
        (parents,) = con.execute("SELECT count(*) FROM lines WHERE parent IS NULL").fetchone()
        step = max(1, -(-parents // count))
        bounds += [
            gid
            for (gid,) in con.execute(
                """SELECT gid FROM (SELECT gid, row_number() OVER (ORDER BY gid) AS n FROM lines WHERE parent IS NULL)
                   WHERE n % $step = 1 AND n > 1 ORDER BY gid""",
                {"step": step},
            ).fetchall()
        ]
    return list(zip(bounds, [*bounds[1:], "\U0010ffff"], strict=True))
