"""Values from outside the code (DATA_DIR and other paths, run ids, file lists) reach SQL only as bound
parameters or through ingest.sql's quoting helpers: a DATA_DIR holding a quote runs the whole pipeline, and a
run id cannot name a file outside its landing folder. A scan keeps new code from splicing quoted values."""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from ingest.sql import identifier, literal, literal_list

REPO = Path(__file__).resolve().parents[2]
NASTY = ["plain", "o'brien", "''", "a'); select read_text('/proc/self/environ'); --", 'say "hi"', "back\\slash", "ünï"]


@pytest.mark.parametrize("value", NASTY)
def test_literal_and_identifier_round_trip_through_duckdb(value):
    con = duckdb.connect()
    assert con.execute(f"SELECT {literal(value)}").fetchall() == [(value,)]
    assert con.execute(f"SELECT {literal_list([value, 'x'])}").fetchall() == [([value, "x"],)]
    con.execute(f"CREATE TABLE {identifier(value)} AS SELECT 1 AS {identifier(value)}")
    assert con.execute(f"SELECT {identifier(value)} FROM {identifier(value)}").fetchall() == [(1,)]


def test_a_nul_character_is_refused():
    with pytest.raises(ValueError, match="NUL"):
        literal("a\x00b")


# f-strings (one line or many) that put a value between single quotes ('{x}') or splice a Python repr ({x!r})
# into SQL: a quote in the value ends the literal. Read with the parser, so a triple-quoted query is seen whole.
SQL_WORDS = re.compile(
    r"\b(SELECT|FROM|COPY|ATTACH|INSERT|CREATE|DELETE|select|where|read_\w+|timezone|strftime|cast)\b"
)
SCANNED = ["ingest", "pipeline", "expectations", "dags", "bench", "sandbox"]


def quoted_splices(source: str) -> list[tuple[int, str]]:
    """(line, expression) of each value an SQL f-string splices between quotes or as a repr."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.JoinedStr):
            continue
        parts = node.values
        text = "".join(p.value if isinstance(p, ast.Constant) else "{}" for p in parts)
        if not SQL_WORDS.search(text):
            continue
        for i, part in enumerate(parts):
            if not isinstance(part, ast.FormattedValue):
                continue
            before = parts[i - 1].value if i > 0 and isinstance(parts[i - 1], ast.Constant) else ""
            after = parts[i + 1].value if i + 1 < len(parts) and isinstance(parts[i + 1], ast.Constant) else ""
            if part.conversion == ord("r") or (before.endswith("'") and after.startswith("'")):
                found.append((part.lineno, ast.unparse(part.value)))
    return found


def test_the_scan_sees_splices_on_one_line_and_in_a_multi_line_query():
    one = "q = f\"SELECT * FROM t WHERE a = '{value}'\""
    many = 'q = f"""\nselect *\nfrom t\nwhere a = {value!r}\n"""'
    assert quoted_splices(one) == [(1, "value")] and quoted_splices(many) == [(1, "value")]
    assert quoted_splices('q = f"SELECT * FROM t WHERE a = {literal(value)}"') == []


def test_no_sql_splices_a_value_between_quotes():
    found = [
        f"{path.relative_to(REPO)}:{line}: {expression}"
        for folder in SCANNED
        for path in sorted((REPO / folder).rglob("*.py"))
        for line, expression in quoted_splices(path.read_text())
    ]
    assert not found, "SQL built from a value between quotes; use ingest.sql.literal or a ? parameter:\n" + "\n".join(
        found
    )


def test_a_data_dir_with_a_quote_runs_extract_load_dbt_and_publish(tiny, tmp_path, monkeypatch):
    from pipeline.publish import publish
    from sandbox.pull import pull_and_build

    data = tmp_path / "o'brien's data" / "data"
    monkeypatch.setenv("DATA_DIR", str(data))
    for name in ("WAREHOUSE_PATH", "LANDING_DIR", "FINANCE_INPUTS_DIR", "EXPORTS_DIR", "PUBLISHED_DIR"):
        monkeypatch.delenv(name, raising=False)
    pull_and_build(tiny)  # extract -> landing (COPY TO a quoted path) -> load (read_parquet of quoted files) -> dbt
    result = publish()  # ATTACH and COPY TO paths under the same folder
    assert Path(result["database"]).is_relative_to(data)
    con = duckdb.connect(result["database"], read_only=True)
    try:
        assert con.execute("SELECT count(*) FROM cs_pnl_monthly").fetchall()[0][0] > 0
    finally:
        con.close()


@pytest.mark.parametrize("run_id", ["../../../escaped", "a/b", "..", "x..y", "/tmp/abs", "", "-flag", "x y"])
def test_a_run_id_cannot_name_a_file_outside_the_landing_folder(run_id, tiny, data_dir):
    from ingest.extract import extract_vendor
    from ingest.landing import InvalidRunId
    from sandbox.emulators.server import Sandbox
    from sandbox.pull import connections_of

    refused = re.escape("run id must be 1-100 letters, digits or _ . : + - (starting with a letter or digit, no '..')")
    with (
        Sandbox(tiny, faults="none", rate_limits=False) as box,
        connections_of(box),
        pytest.raises(InvalidRunId, match=refused),
    ):
        extract_vendor("shopify", run_id=run_id)
    written = [p for p in data_dir.parent.rglob("*") if p.is_file()]
    assert written == [], written


def test_the_ingest_cli_refuses_a_run_id_with_a_path(data_dir):
    proc = subprocess.run(
        [sys.executable, "-m", "ingest", "extract", "--vendor", "shopify", "--run-id", "../../../escaped"],
        env={
            "PATH": "/usr/bin:/bin",
            "PYTHONPATH": str(REPO),
            "DATA_DIR": str(data_dir),
            "AIRFLOW_CONN_SHOPIFY_DEFAULT": json.dumps({"conn_type": "http", "host": "http://127.0.0.1:9"}),
        },
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert (
        "argument --run-id: run id must be 1-100 letters, digits or _ . : + - (starting with a letter or digit, "
        in (proc.stderr)
    )
    assert "Traceback" not in proc.stderr


def test_dbt_reads_outside_values_only_where_they_are_checked():
    """In the dbt project, the environment reaches SQL only through as_of() (checked against ISO 8601); the
    profile's env_var paths and memory cap go to DuckDB's connect and its escaped SET, not into a model; the
    generated sources read FRESHNESS_<VENDOR>_HOURS only as a freshness count, through `as_number` (which fails
    on anything but a number), never into their SQL."""
    readers = {}
    for path in sorted((REPO / "dbt_project").rglob("*")):
        if path.suffix in (".sql", ".yml") and "target" not in path.parts and "dbt_packages" not in path.parts:
            text = path.read_text()
            if "env_var(" in text or re.search(r"""var\(\s*['"]as_of['"]""", text):
                readers[str(path.relative_to(REPO / "dbt_project"))] = text
    sources = {name: text for name, text in readers.items() if name.endswith("__sources.yml")}
    assert len(sources) >= 4, "every vendor's generated sources YAML reads its freshness threshold"
    freshness_count = re.compile(
        r"""error_after: \{count: "\{\{ env_var\('FRESHNESS_[A-Z0-9_]+_HOURS', '\d+'\) \| as_number \}\}", """
    )
    for name, text in sources.items():
        assert text.count("env_var(") == 1 and freshness_count.search(text), name
        assert "env_var(" not in text.split("loaded_at_query", 1)[-1], name
    assert sorted(set(readers) - set(sources)) == ["macros/time.sql", "profiles.yml"]
    assert readers["macros/time.sql"].count("env_var(") == 1
    assert "raise_compiler_error" in readers["macros/time.sql"]
