"""Indexing, paging and rendering over the canonical tables, shared by the four emulators.

- `load_table`: a canonical table in a compact serving form (one chunk, dictionaries for repetitive
  strings).
- `Index`: the table's numpy arrays (id key, v_from, v_to, created, filter columns) and cached sort
  orders (by id, created or version time). A listing scans one order from a *fence* (a boundary between
  two positions), applying the visibility mask of the current clock and the filters chunk by chunk, so
  a page costs O(page) however large the table (a range on the sort key is a searchsorted bound; a
  selective equality filter walks a candidate list). Nothing is snapshotted: every page re-evaluates
  visibility at the current clock, so records that change while a client pages move exactly like they
  do on the real APIs.
- `Listing`: one list endpoint declared (index, record template, sort names, filters), with a
  read-ahead of the next page.
- Record templates (`Obj`, `col`, `ts`, `money`, `children`, `lookup`, ...): each record shape is
  declared once and rendered column by column straight to JSON text.
"""

from __future__ import annotations

import base64
import json
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from sandbox.calendar import FOREVER, US, local_offset_us
from sandbox.tables import arrow_schema

NULL = np.iinfo(np.int64).min  # null marker in numeric columns: below every real value
SORTS = ("id", "created", "v_from")

# A condition of a query: ("range", column, lo, hi) with inclusive bounds (None = open),
# ("in", column, values) or ("mask", fn) where fn(index, rows, clock) -> bool array.
Cond = tuple


class BadParam(ValueError):
    """A request parameter that cannot be parsed; vendors turn it into their own 400/422."""

    def __init__(self, param: str, message: str):
        super().__init__(f"{param}: {message}")
        self.param = param
        self.message = message


@dataclass(frozen=True)
class Query:
    sort: str = "id"  # one of SORTS
    desc: bool = False
    conds: tuple[Cond, ...] = ()
    min_pos: int | None = None  # an extra lower bound on positions in the sort order (EasyPost after_id)


@dataclass
class Page:
    rows: np.ndarray  # table row indices, in display order
    next_fence: int | None  # continue after the last row (None: nothing more)
    prev_fence: int | None  # go back before the first row (None: nothing before)
    rewound: bool = False  # the page starts early (repeated-records fault)


def load_table(folder: Path, table: str) -> pa.Table:
    """A canonical table in a compact form for serving: one chunk per column, repetitive strings as
    dictionaries (read as such from Parquet), small integers as int32. Values are unchanged."""
    schema = arrow_schema(table)
    strings = [f.name for f in schema if pa.types.is_string(f.type)]
    parts = sorted((folder / table).glob("*.parquet"))
    if strings and parts:  # dictionaries only for repetitive columns (judged on a first row group)
        pf = pq.ParquetFile(parts[0])
        sample = pf.read_row_group(0, columns=strings) if pf.num_row_groups else None
        if sample is not None and sample.num_rows:
            strings = [c for c in strings if pc.count_distinct(sample[c]).as_py() < 0.9 * sample.num_rows]
    t = pq.read_table(folder / table, read_dictionary=strings).unify_dictionaries().combine_chunks()
    cols = []
    for f in schema:
        c = t.column(f.name).chunk(0) if t.column(f.name).num_chunks else pa.array([], f.type)
        if pa.types.is_dictionary(c.type) and len(c.dictionary) > len(c) // 2:
            c = c.cast(pa.string())  # (nearly) unique strings: a dictionary would only add indices
        elif pa.types.is_dictionary(c.type):
            pass
        elif c.type != f.type:
            c = c.cast(f.type)
        if pa.types.is_int64(c.type) and len(c) and f.name not in ("id", "v_from", "created"):
            lo, hi = pc.min_max(c).values()
            if lo.as_py() is not None and lo.as_py() > -(2**31) and hi.as_py() < 2**31:
                c = c.cast(pa.int32())
        cols.append(c)
    return pa.table(cols, names=[f.name for f in schema])


class Index:
    """One canonical table as numpy arrays plus cached sort orders (see module doc)."""

    def __init__(
        self,
        table: pa.Table,
        columns: Iterable[str] = (),
        derived: dict[str, pa.ChunkedArray] | None = None,
        sorts: Iterable[str] = (),
    ):
        self.table = table.combine_chunks()  # take() on one chunk is much faster (no-op after load_table)
        self.n = table.num_rows
        self._lock = threading.Lock()
        self._orders: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        self._ranks: dict[str, np.ndarray] = {}
        self._eq: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        self._cands: dict[tuple, np.ndarray] = {}
        self.codes: dict[str, dict] = {}  # string column -> value -> code
        ids = self.table.column("id")
        self.id_names: pa.Array | None = None  # string ids, sorted and unique; key = position
        if not pa.types.is_integer(ids.type):  # EasyPost ids: dense ranks, so every key is an int64
            ids = ids.combine_chunks().cast(pa.string())
            order = pc.sort_indices(ids).to_numpy()
            ranked = ids.take(pa.array(order))
            new = np.ones(self.n, dtype=bool)
            if self.n > 1:
                new[1:] = pc.not_equal(ranked.slice(1), ranked.slice(0, self.n - 1)).to_numpy(zero_copy_only=False)
            id_key = np.empty(self.n, dtype=np.int64)
            id_key[order] = np.cumsum(new) - 1
            self.id_names = ranked.filter(pa.array(new))
        else:
            id_key = _ints(ids)
        self.cols: dict[str, np.ndarray] = {"id": id_key, "v_from": _ints(self.table.column("v_from"))}
        has_created = "created" in table.column_names
        self.cols["created"] = _ints(self.table.column("created")) if has_created else self.cols["v_from"]
        for name in columns:
            self.cols[name] = self._numeric(name, self.table.column(name))
        for name, arr in (derived or {}).items():
            self.cols[name] = self._numeric(name, arr)
        self.v_to = self._versions()
        # Rows created after the clock are never visible, so created/v_from scans can stop at the clock.
        self.created_le_vfrom = bool(np.all(self.cols["created"] <= self.cols["v_from"]))
        for s in sorts:
            self.order(s)

    # ------------------------------------------------------------------ loading
    def _numeric(self, name: str, arr: pa.ChunkedArray) -> np.ndarray:
        """A filter column as int64: strings become dictionary codes (null = -1), nulls become NULL."""
        if pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type) or pa.types.is_dictionary(arr.type):
            enc = arr if pa.types.is_dictionary(arr.type) else pc.dictionary_encode(arr)
            enc = enc.combine_chunks() if isinstance(enc, pa.ChunkedArray) else enc
            self.codes[name] = {v: i for i, v in enumerate(enc.dictionary.to_pylist())}
            return enc.indices.fill_null(-1).to_numpy().astype(np.int64)
        if pa.types.is_boolean(arr.type):
            arr = pc.cast(arr, pa.int64())
        return _ints(arr)

    def _versions(self) -> np.ndarray:
        """v_to per row: the v_from of the id's next version (ties: the later row wins), else FOREVER."""
        order = self.order("id")[0]
        ids, vf = self.cols["id"][order], self.cols["v_from"][order]
        nxt = np.full(self.n, FOREVER, dtype=np.int64)
        if self.n > 1:
            same = ids[1:] == ids[:-1]
            nxt[:-1] = np.where(same, vf[1:], FOREVER)
        v_to = np.empty(self.n, dtype=np.int64)
        v_to[order] = nxt
        return v_to

    def order(self, sort: str) -> tuple[np.ndarray, np.ndarray]:
        """(permutation, sorted primary key) of a sort order; ties by id, then version, then row."""
        got = self._orders.get(sort)
        if got is not None:
            return got
        with self._lock:
            if sort not in self._orders:
                c = self.cols
                keys = {
                    "id": (c["v_from"], c["id"]),
                    "created": (c["v_from"], c["id"], c["created"]),
                    "v_from": (c["id"], c["v_from"]),
                }[sort]
                # Files hold each id's versions together and in time order: the fast path pays off for ids.
                perm = _lexsort(keys) if sort == "id" else np.lexsort(keys)  # ties keep file order
                perm = perm.astype(np.int32 if self.n < 2**31 else np.int64)
                self._orders[sort] = (perm, keys[-1][perm])
            return self._orders[sort]

    def rank(self, sort: str) -> np.ndarray:
        """Inverse permutation: row -> position in the sort order."""
        got = self._ranks.get(sort)
        if got is None:
            perm = self.order(sort)[0]
            got = np.empty(self.n, dtype=perm.dtype)
            got[perm] = np.arange(self.n, dtype=perm.dtype)
            self._ranks[sort] = got
        return got

    def _eq_index(self, col: str) -> tuple[np.ndarray, np.ndarray]:
        got = self._eq.get(col)
        if got is None:
            perm = np.argsort(self.cols[col], kind="stable")
            got = (perm, self.cols[col][perm])
            self._eq[col] = got
        return got

    # ------------------------------------------------------------------ lookups
    def key_of(self, col: str, value: object) -> int | None:
        """The int64 key of a raw value in a column (string codes, string ids); None if absent."""
        if col == "id" and self.id_names is not None:  # binary search in the sorted Arrow strings
            names, v = self.id_names, str(value)
            lo, hi = 0, len(names)
            while lo < hi:
                mid = (lo + hi) // 2
                if names[mid].as_py() < v:
                    lo = mid + 1
                else:
                    hi = mid
            return lo if lo < len(names) and names[lo].as_py() == v else None
        if col in self.codes:
            return self.codes[col].get(value)
        return None if value is None else int(value)

    def versions(self, id_value: object) -> np.ndarray:
        """Row indices of every version of an id, oldest first."""
        key = self.key_of("id", id_value)
        if key is None:
            return np.empty(0, dtype=np.int64)
        perm, keys = self.order("id")
        a, b = np.searchsorted(keys, key, "left"), np.searchsorted(keys, key, "right")
        return perm[a:b].astype(np.int64)

    def visible_row(self, id_value: object, clock: int) -> int | None:
        for r in self.versions(id_value)[::-1]:
            if self.cols["v_from"][r] <= clock < self.v_to[r]:
                return int(r)
        return None

    def position_span(self, id_value: object, sort: str) -> tuple[int, int] | None:
        """First and last positions of an id's versions in a sort order (adjacent in id/created orders)."""
        rows = self.versions(id_value)
        if not len(rows):
            return None
        pos = self.rank(sort)[rows]
        return int(pos.min()), int(pos.max())

    def take(self, rows: Sequence[int] | np.ndarray) -> pa.Table:
        return self.table.take(pa.array(np.asarray(rows, dtype=np.int64)))

    # ------------------------------------------------------------------ scanning
    def _bounds(self, q: Query, clock: int) -> tuple[int, int]:
        """Position range [a, b) of the sort order allowed by the range conditions on the sort key."""
        keys = self.order(q.sort)[1]
        lo, hi = None, None
        for c in q.conds:
            if c[0] == "range" and c[1] == q.sort:
                lo = c[2] if lo is None or (c[2] is not None and c[2] > lo) else lo
                hi = c[3] if hi is None or (c[3] is not None and c[3] < hi) else hi
        if q.sort == "v_from" or (q.sort == "created" and self.created_le_vfrom):
            hi = clock if hi is None else min(hi, clock)
        a = 0 if lo is None else int(np.searchsorted(keys, lo, "left"))
        b = self.n if hi is None else int(np.searchsorted(keys, hi, "right"))
        if q.min_pos is not None:
            a = max(a, q.min_pos)
        return a, max(a, b)

    def _candidates(self, q: Query) -> tuple[np.ndarray | None, Cond | None]:
        """Sorted positions of the rows matching the most selective `in` condition, when it is selective."""
        best: tuple[int, Cond, list] | None = None
        for c in q.conds:
            if c[0] != "in":
                continue
            perm, vals = self._eq_index(c[1])
            spans = [
                (int(np.searchsorted(vals, k, "left")), int(np.searchsorted(vals, k, "right"))) for k in self._keys(c)
            ]
            count = sum(b - a for a, b in spans)
            if count <= max(1024, self.n // 32) and (best is None or count < best[0]):
                best = (count, c, spans)
        if best is None:
            return None, None
        key = (q.sort, best[1][1], tuple(best[2]))
        got = self._cands.get(key)
        if got is None:  # cached: every page of a filtered read asks again
            perm = self._eq_index(best[1][1])[0]
            rows = np.concatenate([perm[a:b] for a, b in best[2]] or [np.empty(0, dtype=np.int64)])
            got = np.sort(self.rank(q.sort)[rows]).astype(np.int64)
            with self._lock:
                self._cands[key] = got
                while len(self._cands) > 64:
                    self._cands.pop(next(iter(self._cands)))
        return got, best[1]

    def _keys(self, c: Cond) -> list[int]:
        return sorted({k for k in (self.key_of(c[1], v) for v in c[2]) if k is not None})

    def _filter(self, rows: np.ndarray, q: Query, clock: int, skip: Cond | None) -> np.ndarray:
        """Indices into `rows` of the visible rows matching every condition."""
        vf = self.cols["v_from"][rows]
        keep = np.flatnonzero((vf <= clock) & (self.v_to[rows] > clock))
        for c in q.conds:
            if not len(keep) or c is skip:
                continue
            sub = rows[keep]
            if c[0] == "range":
                col = self.cols[c[1]][sub]
                m = np.ones(len(sub), dtype=bool) if c[2] is None else col >= c[2]
                if c[3] is not None:
                    m &= (col <= c[3]) & (col != NULL)
            elif c[0] == "in":
                m = np.isin(self.cols[c[1]][sub], self._keys(c))
            else:
                m = np.asarray(c[1](self, sub, clock), dtype=bool)
            keep = keep[m]
        return keep

    def scan(self, q: Query, clock: int, fence: int | None, forward: bool, count: int) -> np.ndarray:
        """Up to `count` matching positions walking from `fence` (forward: fence, fence+1, ...;
        backward: fence-1, fence-2, ...); a None fence starts at the edge of the allowed range."""
        perm = self.order(q.sort)[0]
        a, b = self._bounds(q, clock)
        cands, used = self._candidates(q)
        if cands is not None:  # walk the candidate list instead of the whole order
            lo, hi = int(np.searchsorted(cands, a)), int(np.searchsorted(cands, b))
            f = None if fence is None else int(np.searchsorted(cands, fence))
        else:
            lo, hi, f = a, b, fence
        f = (lo if forward else hi) if f is None else min(max(f, lo), hi)
        out: list[np.ndarray] = []
        found, chunk = 0, max(64, 2 * count)
        while found < count:
            if forward:
                s, e = f, min(f + chunk, hi)
                f = e
            else:
                s, e = max(f - chunk, lo), f
                f = s
            if s >= e:
                break
            pos = np.arange(s, e, dtype=np.int64) if cands is None else cands[s:e]
            if not forward:
                pos = pos[::-1]
            hits = pos[self._filter(perm[pos].astype(np.int64), q, clock, used)][: count - found]
            out.append(hits)
            found += len(hits)
            chunk = min(chunk * 4, 1 << 20)  # sparse filters: grow fast, stay vectorised
        return np.concatenate(out) if out else np.empty(0, dtype=np.int64)

    def page(
        self, q: Query, clock: int, limit: int, fence: int | None = None, back: bool = False, rewind: int = 0
    ) -> Page:
        """One page in display order (q.desc flips the sort order). `back` pages towards the start
        from `fence`; `rewind` > 0 starts that many matching rows early (the repeated-records fault)."""
        forward = not q.desc  # display direction, as a direction in the sort order
        rewound = False
        rewind = min(rewind, limit - 1)  # a rewound page still moves on by at least one row
        if rewind > 0 and fence is not None and not back:
            earlier = self.scan(q, clock, fence, not forward, rewind)
            if len(earlier):
                fence = int(earlier[-1]) + (0 if forward else 1)
                rewound = True
        pos = self.scan(q, clock, fence, forward != back, limit + 1)
        more = len(pos) > limit
        pos = pos[:limit]
        if back:
            pos = pos[::-1]
        if not len(pos):
            return Page(np.empty(0, dtype=np.int64), None, None)
        first, last = int(pos[0]), int(pos[-1])
        next_fence = (last + 1 if forward else last) if (more or back) else None
        prev_fence = (first if forward else first + 1) if (more if back else fence is not None) else None
        return Page(self.order(q.sort)[0][pos].astype(np.int64), next_fence, prev_fence, rewound)

    def visible_rows(self, id_values: Sequence[object] | np.ndarray, clock: int) -> np.ndarray:
        """Row of the visible version of each id (-1 where none), vectorised."""
        if isinstance(id_values, np.ndarray):  # int64 keys, NULL for none
            keys = np.where(id_values == NULL, -(2**62), id_values)
        elif self.id_names is None:
            keys = np.array([-(2**62) if v is None else v for v in id_values], dtype=np.int64)
        else:
            keys = np.array(
                [k if (k := self.key_of("id", v)) is not None else -(2**62) for v in id_values], dtype=np.int64
            )
        perm, sk = self.order("id")
        owner, pos = _expand(np.searchsorted(sk, keys, "left"), np.searchsorted(sk, keys, "right"))
        rows = perm[pos].astype(np.int64)
        vis = (self.cols["v_from"][rows] <= clock) & (self.v_to[rows] > clock)
        out = np.full(len(keys), -1, dtype=np.int64)
        out[owner[vis]] = rows[vis]
        return out


class Children:
    """An immutable child table grouped by a parent key (Shopify line items, refunds, ...)."""

    def __init__(self, table: pa.Table, key: str):
        self.table = table.combine_chunks()  # take() on one chunk is much faster
        k = _ints(self.table.column(key))
        self.perm = np.argsort(k, kind="stable")
        self.keys = k[self.perm]

    def take(self, parents: Sequence[int]) -> tuple[pa.Table, np.ndarray]:
        """The children of each parent key (in file order) and, per child, the index of its parent."""
        p = np.asarray(parents, dtype=np.int64)
        a, b = np.searchsorted(self.keys, p, "left"), np.searchsorted(self.keys, p, "right")
        owner, pos = _expand(a, b)
        return self.table.take(pa.array(self.perm[pos])), owner


def _expand(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Concatenated ranges [a_i, b_i): (index i of each element, the positions)."""
    lens = b - a
    owner = np.repeat(np.arange(len(a)), lens)
    pos = np.repeat(a, lens) + np.arange(int(lens.sum())) - np.repeat(np.cumsum(lens) - lens, lens)
    return owner, pos.astype(np.int64)


class ReadAhead:
    """Pages of one listing rendered ahead of the client (one background thread shared by all)."""

    pool = ThreadPoolExecutor(1, thread_name_prefix="read-ahead")

    def __init__(self, size: int = 8):
        self.size = size
        self.lock = threading.Lock()
        self.futures: OrderedDict[object, Future] = OrderedDict()

    def pop(self, key: object) -> Future | None:
        with self.lock:
            return self.futures.pop(key, None)

    def submit(self, key: object, fn: Callable, *args: object) -> None:
        with self.lock:
            if key in self.futures:
                return
            self.futures[key] = self.pool.submit(fn, *args)
            while len(self.futures) > self.size:
                self.futures.popitem(last=False)


@dataclass
class Listing:
    """A list endpoint's declaration: table, record template, vendor sort names and filters."""

    index: Index
    record: Obj
    sorts: dict[str, tuple[str, bool]]  # vendor sort value -> (engine sort, descending)
    default_sort: str
    filters: dict[str, FilterBuilder] = field(default_factory=dict)
    always: Callable[[int], list[Cond]] | None = None  # conditions on every request (retention windows)
    ahead: ReadAhead = field(default_factory=ReadAhead, repr=False)

    def query(self, sort: str, params: dict[str, str], clock: int, **extra: object) -> Query:
        engine_sort, desc = self.sorts[sort]
        conds = build_conds(self.filters, params, clock) + tuple(self.always(clock) if self.always else ())
        return Query(engine_sort, desc, conds, **extra)

    def fetch(
        self,
        q: Query,
        clock: int,
        limit: int,
        fence: int | None = None,
        back: bool = False,
        rewind: int = 0,
        record: Obj | None = None,
        key: object = None,
    ) -> tuple[list[str], Page]:
        """One page: the records as JSON texts, and the paging state.

        With a `key` (the request's fixed filters, hashable) the page after this one is rendered in the
        background while the client digests this one: a client paging forward finds it ready. The result
        is identical (same clock, immutable data), so this is purely a latency optimisation."""
        record = record or self.record
        ahead = None if key is None or back or rewind else (key, clock, limit, id(record))
        got = self.ahead.pop((ahead, fence)) if ahead is not None else None
        result = got.result() if got is not None else self._fetch(q, clock, limit, fence, back, rewind, record)
        nxt = result[1].next_fence
        if ahead is not None and nxt is not None:
            self.ahead.submit((ahead, nxt), self._fetch, q, clock, limit, nxt, False, 0, record)
        return result

    def _fetch(
        self, q: Query, clock: int, limit: int, fence: int | None, back: bool, rewind: int, record: Obj
    ) -> tuple[list[str], Page]:
        page = self.index.page(q, clock, limit, fence, back, rewind)
        return record.render(self.index.take(page.rows), clock), page

    def get(self, id_value: object, clock: int) -> str | None:
        """The visible version of one record as JSON text; None when absent (or hidden by `always`)."""
        row = self.index.visible_row(id_value, clock)
        if row is None:
            return None
        if self.always:
            q = Query(conds=tuple(self.always(clock)))
            if not len(self.index._filter(np.array([row], dtype=np.int64), q, clock, None)):
                return None
        return self.record.render(self.index.take([row]), clock)[0]

    def get_many(self, id_values: Sequence[int], clock: int) -> list[str | None]:
        """`get` of each id, rendered in one batch (a `nodes(ids:)` query asks for 50 at once)."""
        rows = self.index.visible_rows(list(id_values), clock)
        found = np.flatnonzero(rows >= 0)
        if self.always and len(found):
            q = Query(conds=tuple(self.always(clock)))
            found = found[self.index._filter(rows[found], q, clock, None)]
        out: list[str | None] = [None] * len(rows)
        for i, text in zip(found.tolist(), self.record.render(self.index.take(rows[found]), clock), strict=True):
            out[i] = text
        return out


def _lexsort(keys: tuple[np.ndarray, ...]) -> np.ndarray:
    """np.lexsort(keys) (last key primary; ties keep file order), fast on nearly sorted data: a stable
    sort by the primary key (timsort: quick on presorted runs), then an exact sort of the few tie groups
    whose minor keys come out of order (versions of one id written out of time order)."""
    primary = keys[-1]
    perm = np.argsort(primary, kind="stable")
    sp = primary[perm]
    tied = sp[1:] == sp[:-1]
    bad = np.zeros(len(tied), dtype=bool)
    for k in reversed(keys[:-1]):  # most significant minor key first
        sk = k[perm]
        bad |= tied & (sk[1:] < sk[:-1])
        tied &= sk[1:] == sk[:-1]
    if bad.any():
        sel = np.flatnonzero(np.isin(sp, np.unique(sp[1:][bad])))  # whole tie groups, contiguous
        rows = perm[sel]
        perm[sel] = rows[np.lexsort(tuple(k[rows] for k in keys))]
    return perm


def _ints(arr: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """An integer column as int64 numpy (zero-copy when possible), NULL for nulls."""
    if not pa.types.is_int64(arr.type):
        arr = arr.cast(pa.int64())
    if arr.null_count:
        arr = pc.fill_null(arr, NULL)
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    return arr.to_numpy(zero_copy_only=False).astype(np.int64, copy=False)


# ---------------------------------------------------------------------------- filters
# Vendor modules declare their filters as {param: builder}; a builder turns the raw value into conditions.
FilterBuilder = Callable[[str, int], list[Cond]]


def at_least(col: str, parse: Callable[[str], int], exclusive: bool = False) -> FilterBuilder:
    return lambda v, clock: [("range", col, parse(v) + (1 if exclusive else 0), None)]


def at_most(col: str, parse: Callable[[str], int], exclusive: bool = False) -> FilterBuilder:
    return lambda v, clock: [("range", col, None, parse(v) - (1 if exclusive else 0))]


def one_of(col: str, parse: Callable[[str], object] = str) -> FilterBuilder:
    """Equality with one value, or any of a comma-separated list."""
    return lambda v, clock: [("in", col, tuple(parse(x.strip()) for x in v.split(",") if x.strip()))]


def build_conds(filters: dict[str, FilterBuilder], params: dict[str, str], clock: int) -> tuple[Cond, ...]:
    conds: list[Cond] = []
    for name in sorted(params):
        if name in filters:
            try:
                conds += filters[name](params[name], clock)
            except BadParam:
                raise
            except (ValueError, TypeError) as e:
                raise BadParam(name, f"invalid value {params[name]!r}") from e
    return tuple(conds)


# ---------------------------------------------------------------------------- cursors
def encode_cursor(state: dict) -> str:
    """Opaque cursor: base64url JSON of the fixed filters and the fence."""
    raw = json.dumps(state, sort_keys=True, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(token: str) -> dict:
    try:
        state = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    except (ValueError, TypeError) as e:
        raise BadParam("cursor", "invalid cursor") from e
    if not isinstance(state, dict) or not isinstance(state.get("f"), int):
        raise BadParam("cursor", "invalid cursor")
    return state


# ---------------------------------------------------------------------------- parsing
def parse_int(v: str) -> int:
    return int(v.strip())


def parse_ts(v: str) -> int:
    """ISO-8601 instant -> µs. Naive means UTC; a bare date is UTC midnight. A '+' that arrived as a
    space (unencoded offset in a query string) is tolerated."""
    s = v.strip()
    if "T" in s:
        s = s.replace(" ", "+")
    dt = datetime.fromisoformat(s.replace("Z", "+00:00"))
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    delta = dt - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86400 + delta.seconds) * US + delta.microseconds


def parse_day(v: str) -> int:
    """A date (or the date part of a datetime) -> days since the epoch."""
    return (date.fromisoformat(v.strip()[:10]) - date(1970, 1, 1)).days


# ---------------------------------------------------------------------------- rendering
# Formatting runs for every field of every record served: table lookups instead of strftime.
_MS = [f"{m:02d}:{s:02d}" for m in range(60) for s in range(60)]
_HOURS: dict[int, str] = {}  # hour since epoch -> "YYYY-MM-DDTHH:"
_SHOP: dict[int, tuple[str, str]] = {}  # UTC hour -> (shop-local "YYYY-MM-DDTHH:", offset suffix)
_BOOLS = {True: "true", False: "false", None: "null"}
_MONEY: dict[int | None, str] = {}


@lru_cache(maxsize=1 << 17)
def ymd(days: int) -> str:
    return (date(1970, 1, 1) + timedelta(days=days)).isoformat()


def _hour(h: int) -> str:
    got = _HOURS.get(h)
    if got is None:
        got = _HOURS[h] = f"{ymd(h // 24)}T{h % 24:02d}:"
    return got


def fmt_ts(ts: int | None, suffix: str = "+00:00", micro: bool = False) -> str | None:
    """µs -> ISO text with a fixed suffix. The fraction is written when `micro` or when the instant has
    one (an instant is never rounded)."""
    if ts is None:
        return None
    s, us = divmod(ts, US)
    h, r = divmod(s, 3600)
    if us or micro:
        return f"{_hour(h)}{_MS[r]}.{us:06d}{suffix}"
    return _hour(h) + _MS[r] + suffix


def fmt_shop(ts: int | None) -> str | None:
    """The shop's wall clock with its offset (America/Chicago, moves with DST on whole hours)."""
    if ts is None:
        return None
    s, us = divmod(ts, US)
    h, r = divmod(s, 3600)
    got = _SHOP.get(h)
    if got is None:
        off = local_offset_us(ts) // US
        m = abs(off) // 60
        got = _SHOP[h] = (_hour(h + off // 3600), f"{'-' if off < 0 else '+'}{m // 60:02d}:{m % 60:02d}")
    if us:
        return f"{got[0]}{_MS[r]}.{us:06d}{got[1]}"
    return got[0] + _MS[r] + got[1]


def fmt_money(cents: int | None) -> str | None:
    """Cents -> "29.20"."""
    if cents is None:
        return None
    c = abs(cents)
    return f"{'-' if cents < 0 else ''}{c // 100}.{c % 100:02d}"


def money_json(cents: int | None) -> str:
    """Cents -> '"29.20"' as JSON text (memoised: amounts repeat a lot)."""
    got = _MONEY.get(cents)
    if got is None:
        got = "null" if cents is None else f'"{fmt_money(cents)}"'
        if len(_MONEY) < 1 << 20:
            _MONEY[cents] = got
    return got


# ---------------------------------------------------------------------------- record templates
# A vendor declares each record shape once as an Obj of fields; a page renders column by column
# straight to JSON text (no per-record dicts, no json.dumps of records): several times faster.
_enc_str = json.encoder.encode_basestring_ascii  # the C string escaper behind json.dumps


def to_json(v: object) -> str:
    if v is None:
        return "null"
    if v is True:
        return "true"
    if v is False:
        return "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, str):
        return _enc_str(v)
    return json.dumps(v, separators=(",", ":"))


class Batch:
    """Rows rendered together (a page, or the children / joined rows of a page), column by column."""

    def __init__(self, table: pa.Table, clock: int):
        self.table, self.clock, self.n = table, clock, table.num_rows
        self._lists: dict[object, list] = {}

    def col(self, name: str) -> list:
        got = self._lists.get(name)
        if got is None:
            arr = self.table.column(name)
            if pa.types.is_dictionary(arr.type):  # decoding in C first: to_pylist on dictionaries is slow
                arr = arr.cast(arr.type.value_type)
            got = self._lists[name] = arr.to_pylist()
        return got

    def ints(self, name: str) -> np.ndarray:
        return _ints(self.table.column(name))

    def memo(self, key: tuple, fn: Callable[[], list[str]]) -> list[str]:
        """Texts computed once per batch (the same column rendered under two keys)."""
        got = self._lists.get(key)
        if got is None:
            got = self._lists[key] = fn()
        return got


class Field:
    def texts(self, b: Batch) -> list[str]:
        """One JSON value text per row of the batch."""
        raise NotImplementedError


class _Const(Field):
    def __init__(self, text: str):
        self.text = text

    def texts(self, b: Batch) -> list[str]:
        return [self.text] * b.n


class _Shape(Field):
    """Objects and fixed arrays built from the same row: flattened into one %-template at construction,
    so a record is rendered by a single string formatting of its leaf fields."""

    template: str
    leaves: list[Field]

    def texts(self, b: Batch) -> list[str]:
        if not b.n:
            return []
        t = self.template
        if not self.leaves:
            return [t % ()] * b.n
        return [
            t % vals
            for vals in zip(*[b.memo(("leaf", id(f)), lambda f=f: f.texts(b)) for f in self.leaves], strict=True)
        ]

    def render(self, table: pa.Table, clock: int) -> list[str]:
        return self.texts(Batch(table, clock))

    def _compile(self, opening: str, items: list[tuple[str, Field]], closing: str) -> None:
        parts, self.leaves = [], []
        for prefix, f in items:
            if isinstance(f, _Shape):
                parts.append(prefix.replace("%", "%%") + f.template)
                self.leaves += f.leaves
            elif isinstance(f, _Const):
                parts.append((prefix + f.text).replace("%", "%%"))
            else:
                parts.append(prefix.replace("%", "%%") + "%s")
                self.leaves.append(f)
        self.template = opening + ",".join(parts) + closing


class Obj(_Shape):
    """A JSON object whose values are fields of the same rows."""

    def __init__(self, fields: dict[str, Field]):
        self.fields = fields
        self._compile("{", [(json.dumps(k) + ":", f) for k, f in fields.items()], "}")
        self._subsets: dict[tuple[str, ...], Obj] = {}

    def only(self, keys: Iterable[str]) -> Obj:
        """The same object restricted to some keys (Shopify's `fields`)."""
        k = tuple(x for x in self.fields if x in set(keys))
        got = self._subsets.get(k)
        if got is None:
            got = self._subsets[k] = Obj({x: self.fields[x] for x in k})
        return got


class _Array(_Shape):
    def __init__(self, items: tuple[Field, ...]):
        self._compile("[", [("", f) for f in items], "]")


class _Fn(Field):
    def __init__(self, fn: Callable[[Batch], list[str]]):
        self.fn = fn

    def texts(self, b: Batch) -> list[str]:
        return self.fn(b)


def col(name: str) -> Field:
    """A column as is (int, bool, string or null)."""

    def texts(b: Batch) -> list[str]:
        arr = b.table.column(name)
        if pa.types.is_integer(arr.type):
            return ["null" if v is None else str(v) for v in b.col(name)]
        if pa.types.is_boolean(arr.type):
            return [_BOOLS[v] for v in b.col(name)]
        if pa.types.is_string(arr.type) or pa.types.is_dictionary(arr.type):
            return ["null" if v is None else _enc_str(v) for v in b.col(name)]
        return [to_json(v) for v in b.col(name)]

    return _Fn(texts)


def const(value: object) -> Field:
    return _Const(to_json(value))


def rendered(fn: Callable[[Batch], list[str]]) -> Field:
    """A field whose function already returns JSON texts (hot nested fields)."""
    return _Fn(fn)


def computed(fn: Callable[[Batch], list]) -> Field:
    """Python values computed from the batch (rare or clock-dependent fields), JSON-encoded."""
    return _Fn(lambda b: [to_json(v) for v in fn(b)])


def money(name: str) -> Field:
    """Int cents -> "29.20"."""
    return _Fn(lambda b: [money_json(v) for v in b.col(name)])


def number(name: str) -> Field:
    """Int cents -> 29.2, a JSON number (Shopify refund lines)."""
    return _Fn(lambda b: ["null" if v is None else repr(v / 100) for v in b.col(name)])


def ts(name: str, suffix: str = "+00:00", micro: bool = False, micro_even_ids: bool = False) -> Field:
    """Instant -> ISO text with a fixed suffix ("+00:00", "Z", "" for naive). micro_even_ids writes the
    µs fraction on records with an even id only (Gorgias mixes both forms in one feed)."""

    def texts(b: Batch) -> list[str]:
        vals = b.col(name)
        if micro_even_ids:
            return [
                "null" if v is None else f'"{fmt_ts(v, suffix, micro=i % 2 == 0)}"'
                for v, i in zip(vals, b.col("id"), strict=True)
            ]
        return ["null" if v is None else f'"{fmt_ts(v, suffix, micro)}"' for v in vals]

    return _Fn(texts)


def shop_ts(name: str) -> Field:
    """Instant -> the shop's wall clock with its offset."""
    return _Fn(
        lambda b: b.memo(("shop", name), lambda: ["null" if v is None else f'"{fmt_shop(v)}"' for v in b.col(name)])
    )


def day(name: str) -> Field:
    """Days since the epoch -> "YYYY-MM-DD"."""
    return _Fn(lambda b: ["null" if v is None else f'"{ymd(v)}"' for v in b.col(name)])


def array(*items: Field) -> Field:
    """A fixed-length JSON array built from the same row (e.g. Recharge's one charge line item)."""
    return _Array(items)


def children(source: Children, parent_key: str, record: Obj, where: tuple[str, str] | None = None) -> Field:
    """An array of child records; `where=(child_col, parent_col)` keeps children with
    child_col <= parent_col (a Shopify order version shows the refunds created up to it)."""

    def texts(b: Batch) -> list[str]:
        table, owner = source.take(b.col(parent_key))
        if where is not None and table.num_rows:
            keep = _ints(table.column(where[0])) <= b.ints(where[1])[owner]
            table, owner = table.filter(pa.array(keep)), owner[keep]
        if not table.num_rows:
            return ["[]"] * b.n
        out: list[list[str]] = [[] for _ in range(b.n)]
        for i, text in zip(owner.tolist(), record.render(table, b.clock), strict=True):
            out[i].append(text)
        return ["[" + ",".join(x) + "]" for x in out]

    return _Fn(texts)


def lookup(
    index: Index, key: str, record: Field, default: Field | None = None, columns: tuple[str, ...] | None = None
) -> Field:
    """A field of another table's visible row whose id is this row's `key` (null, or `default`, if none);
    `columns`: the only columns `record` reads (a narrower take)."""
    table = index.table if columns is None else index.table.select(list(columns))

    def texts(b: Batch) -> list[str]:
        rows = index.visible_rows(b.col(key) if index.id_names is not None else b.ints(key), b.clock)
        found = np.flatnonzero(rows >= 0)
        got = record.texts(Batch(table.take(pa.array(rows[found])), b.clock)) if len(found) else []
        out = default.texts(b) if default is not None else ["null"] * b.n
        for i, text in zip(found.tolist(), got, strict=True):
            out[i] = text
        return out

    return _Fn(texts)
