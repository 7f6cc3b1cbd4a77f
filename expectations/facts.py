"""What the marts gate's recomputations need from the raw JSON, parsed once and kept between gates.

The marts gate recomputes totals from the raw layer (`expectations.reconciliation`, §5 source history in
`expectations.suites`), sharing no SQL with dbt. Parsing every raw record's JSON for that at every gate cost the
daily gate at scale large most of its time (15 s of a 34.6 s gate for the source history alone). Here each
recomputation's input is a table in `ops` (`dq_facts_<name>`): per raw row its id, its load id and what the gate's
SQL parses from it. A refresh re-parses only the rows of loads after the one the facts last saw (their load id
is all a new load touches: the loader replaces a changed record with a new row of a new load id), so a
daily gate parses a day of JSON; the recomputations then read the facts.

- Every row of the source (`scope` None), or only the rows whose id is in `scope` (a query of ids): those the
  recomputation reads. A scoped fact takes an id newly in scope from the raw table by id, and drops ids left
  out of it, so it always holds exactly the scope's rows.
- A fact is built again from scratch when its definition (the SQL below) changed, when the source's newest
  load is older than the facts' (the raw table was rebuilt) or when the row counts disagree after a refresh.
- One transaction per refresh: a gate killed halfway leaves the facts as they were.

The gate trusts load ids the way the raw gate does (`ops.dq_validated_loads`): a raw row changed in place
without a new load id, which the loader never does, is not seen until the fact is rebuilt.
"""

from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import dataclass
from pathlib import Path

import duckdb

from ingest.sql import literal, table_exists
from settings import duckdb_memory_limit, project_vars

log = logging.getLogger(__name__)

STATE_DDL = """
create schema if not exists ops;
create table if not exists ops.dq_facts_state (
    fact varchar primary key, load_id bigint not null, definition varchar not null, refreshed_at timestamptz not null
);
"""


@dataclass(frozen=True)
class Fact:
    """Columns parsed from `source`'s rows (SQL over its `record`), kept in ops.dq_facts_<name>."""

    name: str
    source: str
    columns: str  # over the row's `record`, and `f` when `parse` is given
    parse: str | None = None  # parsed once per row as `f` (one JSON parse for every path the columns read)
    scope: str | None = None  # a query of the ids to hold (varchar); None: every row
    # Incremental scopes: `touches` names a column whose values in the rows a refresh replaces or adds it keeps
    # (temp table `_touched`), and `rescope` finds, among `_candidates` (those values and the ids the fact held),
    # the ids in scope now: an id neither touched nor held has not changed its membership.
    touches: str | None = None
    rescope: str | None = None

    @property
    def table(self) -> str:
        return table(self.name)

    @property
    def definition(self) -> str:
        return hashlib.sha256(
            "\n".join(
                str(v) for v in (self.source, self.parse, self.columns, self.scope, self.touches, self.rescope)
            ).encode()
        ).hexdigest()[:16]


def table(fact_name: str) -> str:
    return f"ops.dq_facts_{fact_name}"


def renewal_tag() -> str:
    return project_vars()["renewal_order_tag"].lower()


def facts() -> tuple[Fact, ...]:
    """The facts, each after those its scope reads."""
    links = "json_extract_string(record, ['$.type', '$.status', '$.external_order_id.ecommerce'])"
    charge_links = Fact(
        "recharge_charge_links", "raw_recharge.charges",
        "case when lower(trim(f[1])) = 'recurring' then f[3] end as linked_order_id", parse=links,
        touches="linked_order_id",
    )  # fmt: skip
    order_links = Fact(
        "recharge_order_links", "raw_recharge.orders",
        "case when lower(trim(f[1])) = 'recurring' and lower(trim(f[2])) = 'success' then f[3] end as linked_order_id",
        parse=links, touches="linked_order_id",
    )  # fmt: skip
    # The tag anywhere in the record, in any case (ILIKE; a `%` or `_` in the tag matches more, never fewer):
    # only those orders are parsed, and only those no renewal links to (by the loaded id, which the raw gate
    # holds to the record's legacyResourceId; the record's own id decides in the source-history query).
    tagged = Fact("shopify_tag_mentioned", "raw_shopify.orders",
                  f"record ilike {literal(f'%{renewal_tag()}%')} as tag_mentioned", touches="id")  # fmt: skip
    unlinked = f"t.tag_mentioned and {not_linked('t.id')}"
    candidates = Fact(
        "shopify_unlinked_tagged", "raw_shopify.orders",
        "f", parse="json_extract_string(record, ['$.legacyResourceId', '$.createdAt', '$.tags', '$.test'])",
        scope=f"select t.id from {tagged.table} as t where {unlinked}",
        rescope=f"select t.id from {tagged.table} as t semi join _candidates as k on k.id = t.id where {unlinked}",
    )  # fmt: skip
    # The reconciliation reads the attributed orders' whole records (a few % of the orders).
    attributed = Fact(
        "attributed_orders", "raw_shopify.orders", "record",
        scope="select distinct order_id::varchar from marts.fct_attributed_orders where row_type = 'order'",
    )  # fmt: skip
    return charge_links, order_links, tagged, candidates, attributed


def fact(name: str) -> Fact:
    return next(f for f in facts() if f.name == name)


def not_linked(order_id: str) -> str:
    """No Recharge renewal links to this Shopify order id (a recurring charge, a successful recurring Recharge
    order). Two anti-joins: a set of every linked id (a union of ~12 M at scale large) cost seconds to build."""
    charges, orders = table("recharge_charge_links"), table("recharge_order_links")
    return f"""not exists (select 1 from {charges} as c where c.linked_order_id = {order_id})
        and not exists (select 1 from {orders} as o where o.linked_order_id = {order_id})"""


def refresh(warehouse: Path, rebuild: bool = False) -> dict[str, int]:
    """Bring every fact up to the raw layer's newest load, or build each whole (`rebuild`), in one transaction:
    per fact, the rows parsed (-1: built whole). A source that cannot be read drops every fact (the suites
    reading them then fail, and the next gate builds them whole)."""
    parsed: dict[str, int] = {}
    defined = facts()
    con = duckdb.connect(str(warehouse), config={"memory_limit": duckdb_memory_limit()})
    try:
        con.execute("set TimeZone = 'UTC'; set enable_progress_bar = false")
        con.execute(STATE_DDL)
        con.begin()
        try:
            con.execute("create or replace temp table _touched (value varchar)")
            for f in defined:
                started = time.monotonic()
                # a scope re-evaluated from what changed needs every change: none is known of a fact built whole
                whole = rebuild or any(parsed[g.name] < 0 for g in defined if g.touches and g.name in parsed)
                parsed[f.name] = _refresh(con, f, rebuild, whole)
                log.info("gate fact %s: %d rows parsed in %.2f s", f.name, parsed[f.name], time.monotonic() - started)
            con.commit()
        except duckdb.Error as e:  # a source gone or unreadable: no stale copy may stand in for it
            con.rollback()
            log.error("the gate's facts cannot be read from the raw layer: %s", str(e).splitlines()[0])
            for f in defined:
                con.execute(f"drop table if exists {f.table}")
            con.execute("delete from ops.dq_facts_state")
        except BaseException:
            con.rollback()
            raise
    finally:
        con.close()
    return parsed


def _refresh(con: duckdb.DuckDBPyConnection, f: Fact, rebuild: bool, rescope_whole: bool) -> int:
    (newest,) = con.execute(f"select coalesce(max(load_id), 0) from {f.source}").fetchone()
    state = con.execute("select load_id, definition from ops.dq_facts_state where fact = ?", [f.name]).fetchall()
    seen, definition = state[0] if state else (None, None)
    if (
        rebuild
        or seen is None
        or definition != f.definition
        or newest < seen
        or not table_exists(con, *f.table.split("."))
    ):
        _build(con, f)
        rows = -1
    else:
        rows = _update(con, f, seen, rescope_whole)
        if not _complete(con, f):  # a row the load ids did not account for: build it again rather than trust it
            log.warning("gate fact %s disagreed with %s after its refresh; built again", f.name, f.source)
            _build(con, f)
            rows = -1
    con.execute("insert or replace into ops.dq_facts_state values (?, ?, ?, now())", [f.name, newest, f.definition])
    return rows


def _select(f: Fact, where: str) -> str:
    parsed = f", {f.parse} as f" if f.parse else ""
    rows = f"select s.id, s.load_id, s.record{parsed} from {f.source} as s where {where}"
    return f"select id, load_id, {f.columns} from ({rows})"


def _in_scope(f: Fact, scope: str | None = None) -> str:
    return "true" if f.scope is None else f"s.id in ({scope or f.scope})"


def _build(con: duckdb.DuckDBPyConnection, f: Fact) -> None:
    con.execute(f"create or replace table {f.table} as {_select(f, _in_scope(f))}")


def _update(con: duckdb.DuckDBPyConnection, f: Fact, seen: int, rescope_whole: bool) -> int:
    """The rows of loads after `seen` (in scope), and for a scoped fact the ids newly in scope; ids out of scope
    leave. A newly scoped id is read from the raw table by id (a scan of its records): only when there is one."""
    con.execute(f"create or replace temp table _changed as select s.id from {f.source} as s where s.load_id > {seen}")
    if f.scope is not None:
        if f.rescope and not rescope_whole:
            con.execute(
                f"create or replace temp table _candidates as select value as id from _touched where value is not null"
                f" union select id from {f.table}"
            )
            con.execute(f"create or replace temp table _scope as select * from ({f.rescope}) as s(id)")
        else:
            con.execute(f"create or replace temp table _scope as select * from ({f.scope}) as s(id)")
        con.execute("delete from _changed where id not in (select * from _scope)")
        con.execute(f"delete from {f.table} where id not in (select * from _scope)")
        con.execute(f"create or replace temp table _new as select * from _scope except select id from {f.table}")
    if f.touches:  # the values the replaced rows held
        con.execute(f"insert into _touched select {f.touches} from {f.table} where id in (select id from _changed)")
    con.execute(f"delete from {f.table} where id in (select id from _changed)")
    where = f"s.load_id > {seen}" + ("" if f.scope is None else " and s.id in (select * from _scope)")
    (rows,) = con.execute(f"insert into {f.table} {_select(f, where)}").fetchone()
    if f.touches:  # and those their new versions hold
        con.execute(f"insert into _touched select {f.touches} from {f.table} where load_id > {seen}")
    if f.scope is not None:
        (missing,) = con.execute("select count(*) from _new anti join _changed using (id)").fetchone()
        if missing:
            (more,) = con.execute(
                f"insert into {f.table} {_select(f, f's.id in (select id from _new) and s.load_id <= {seen}')}"
            ).fetchone()
            rows += more
    return rows


def _complete(con: duckdb.DuckDBPyConnection, f: Fact) -> bool:
    """As many rows as the source has (in the scope `_update` read)."""
    (want,) = con.execute(
        f"select count(*) from {f.source} as s where {_in_scope(f, 'select * from _scope')}"
    ).fetchone()
    (have,) = con.execute(f"select count(*) from {f.table}").fetchone()
    return want == have
