"""Two worlds in one data folder: a warehouse records which sources it holds and refuses another's
records (extract and load), so a demo and a real pipeline, or two sandbox scales, never mix."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest

from ingest.connections import Connection
from ingest.identity import SourceMismatch, connection_identity, mirror_path
from sandbox.emulators.server import Sandbox
from sandbox.pull import connections_of, load_all, pull
from sandbox.simulate import generate


@pytest.fixture(scope="module")
def tiny_seed_2(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("sim") / "tiny-2"
    generate("tiny", 2, out)
    return out


def state(warehouse: Path) -> dict[str, object]:
    """Every raw and ops table's rows, sorted."""
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        names = con.execute("SELECT schema_name || '.' || table_name FROM duckdb_tables() "
                            "WHERE schema_name LIKE 'raw_%' OR schema_name = 'ops'").fetchall()  # fmt: skip
        tables = [t for (t,) in names]
        return {t: sorted(con.execute(f"SELECT * FROM {t}").fetchall(), key=repr) for t in tables}
    finally:
        con.close()


def test_a_sandbox_of_another_seed_is_refused_by_extract_load_and_finance(tiny, tiny_seed_2, data_dir):
    with Sandbox(tiny, faults="none", rate_limits=False, recharge_retention_days=0) as box:
        pull(box, tiny)
    warehouse = data_dir / "warehouse.duckdb"
    before = state(warehouse)
    assert before["ops.source_identity"], "the first load recorded no source identity"
    landing = sorted(p.name for p in (data_dir / "landing").rglob("*") if p.is_file())

    from ingest.extract import extract_vendor
    from ingest.finance import load_finance_inputs

    with Sandbox(tiny_seed_2, faults="none", rate_limits=False, recharge_retention_days=0) as other:
        with connections_of(other), pytest.raises(SourceMismatch) as refused:
            extract_vendor("shopify")
        message = str(refused.value)
        assert message.startswith("shopify: the warehouse ") and str(warehouse) in message
        assert "holds records of 'sandbox scale=tiny seed=1'" in message
        assert "refusing to extract 'sandbox scale=tiny seed=2'" in message
        assert f"Use another DATA_DIR for this source, or reset this one with `make clean DATA_DIR={data_dir}`" in (
            message
        )
        assert sorted(p.name for p in (data_dir / "landing").rglob("*") if p.is_file()) == landing, "it landed files"

        # Without the mirror (lost, or landing files brought from elsewhere) the extract runs, the load refuses.
        mirror_path().unlink()
        with connections_of(other):
            extract_vendor("shopify")
        with pytest.raises(SourceMismatch, match="refusing to load 'sandbox scale=tiny seed=2'"):
            load_all()
    with pytest.raises(SourceMismatch, match=r"holds records of 'finance inputs folder .*tiny-1[/\\]finance'"):
        con = duckdb.connect(str(warehouse))
        try:
            load_finance_inputs(con, tiny_seed_2 / "finance")
        finally:
            con.close()
    assert state(warehouse) == before, "the warehouse changed"


def test_the_same_sandbox_on_a_new_port_is_the_same_source(tiny, data_dir):
    """The emulators listen on a new port each run (the demo run twice): that is not another world."""
    for _ in range(2):
        with Sandbox(tiny, faults="none", rate_limits=False, recharge_retention_days=0) as box:
            pull(box, tiny)
    held = json.loads(mirror_path().read_text())
    assert held == {
        **{v: "sandbox scale=tiny seed=1" for v in ("easypost", "gorgias", "recharge", "shopify")},
        "finance": f"finance inputs folder {(tiny / 'finance').resolve()}",
    }


def test_a_real_connection_is_known_by_its_address_and_account_never_its_secret():
    shop = Connection("shopify_default", "https://acme.myshopify.com/admin", "", "shpat_secret", {})
    helpdesk = Connection("gorgias_default", "https://acme.gorgias.com:443", "cs@acme.example", "key_secret", {})
    recharge = Connection("recharge_default", "https://api.rechargeapps.com", "", "sk_secret", {"account": "acme"})
    assert connection_identity(shop) == "https://acme.myshopify.com"
    assert connection_identity(helpdesk) == "https://acme.gorgias.com:443 account cs@acme.example"
    assert connection_identity(recharge) == "https://api.rechargeapps.com account acme"


def test_records_loaded_before_sources_were_recorded_are_refused_until_adopted(tiny, data_dir, monkeypatch, capsys):
    """The issue's user: an older `make demo` filled data/warehouse.duckdb, and `make run` against the real
    vendors would have recorded them as its sources and mixed both. Rows of no known source are refused
    until their owner says where they came from."""
    from ingest.__main__ import main

    warehouse = data_dir / "warehouse.duckdb"
    with Sandbox(tiny, faults="none", rate_limits=False, recharge_retention_days=0) as box:
        pull(box, tiny)
        con = duckdb.connect(str(warehouse))  # as a warehouse of the previous version left it
        con.execute("DROP TABLE ops.source_identity")
        con.close()
        mirror_path().unlink()
        before = state(warehouse)
        with pytest.raises(SourceMismatch) as refused:
            pull(box, tiny)
        message = str(refused.value)
        assert "records loaded before sources were recorded, so whether they come from 'sandbox scale=tiny seed=1'" in (
            message
        )
        assert "record that with `python -m ingest adopt-sources`; if not, use another DATA_DIR" in message
        assert state(warehouse) == before, "the warehouse changed"

        monkeypatch.setenv("FINANCE_INPUTS_DIR", str(tiny / "finance"))
        with connections_of(box):
            main(["adopt-sources"])
        assert json.loads(capsys.readouterr().out)["shopify"] == "sandbox scale=tiny seed=1"
        pull(box, tiny)  # the landed runs load now
    assert set(json.loads(mirror_path().read_text())) == {"easypost", "finance", "gorgias", "recharge", "shopify"}


def test_the_mirror_is_written_beside_the_warehouse_the_load_wrote(tiny, data_dir, tmp_path):
    """A load through a connection to another file (tests, tools) records its sources beside that file, not
    beside the configured warehouse, whose extracts would then be refused for another warehouse's sources."""
    from ingest.finance import load_finance_inputs

    other = tmp_path / "elsewhere" / "warehouse.duckdb"
    other.parent.mkdir()
    con = duckdb.connect(str(other))
    try:
        load_finance_inputs(con, tiny / "finance")
        assert mirror_path(con) == other.with_name("warehouse.duckdb.sources.json")
    finally:
        con.close()
    assert json.loads(other.with_name("warehouse.duckdb.sources.json").read_text())["finance"].endswith("finance")
    assert not mirror_path().exists(), "the configured warehouse's mirror was written"
