"""A BI-like reader process: polls `count(*)` of every mart in the published file every 100 ms.

    python reader.py DB OUT_JSON STOP_FILE hold|reopen

`hold` opens the file once and keeps that connection for the whole run (a dashboard left open);
`reopen` opens, reads and closes on every poll (a tool that reconnects). Each poll reads all counts
through one connection. Writes READY_FILE (OUT_JSON + ".ready") after its first read, and OUT_JSON
with every poll's counts and every error when STOP_FILE appears.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import duckdb


def counts(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    names = [n for (n,) in con.execute("SELECT table_name FROM duckdb_tables() ORDER BY 1").fetchall()]
    row = con.execute("SELECT " + ", ".join(f'(SELECT count(*) FROM "{n}")' for n in names)).fetchall()[0]
    return dict(zip(names, row, strict=True))


def main(db: str, out: str, stop: str, mode: str) -> None:
    seen: list[dict[str, int]] = []
    errors: list[str] = []
    held = duckdb.connect(db, read_only=True) if mode == "hold" else None
    while not Path(stop).exists():
        started = time.monotonic()
        try:
            if held is not None:
                seen.append(counts(held))
            else:
                con = duckdb.connect(db, read_only=True)
                try:
                    seen.append(counts(con))
                finally:
                    con.close()
        except Exception as e:  # recorded, not raised: the test wants to see every error
            errors.append(repr(e))
        Path(out + ".ready").touch()
        time.sleep(max(0.0, 0.1 - (time.monotonic() - started)))
    if held is not None:
        held.close()
    Path(out).write_text(json.dumps({"seen": seen, "errors": errors}))


if __name__ == "__main__":
    main(*sys.argv[1:5])
