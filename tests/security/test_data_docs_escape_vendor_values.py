"""A vendor value such as <script>...</script> used to be written raw into the GX Data Docs pages (the
offending values of a failed expectation): opening the page ran it. The page is rendered by headless
Chromium here: no script of the vendor runs, the page shows the value as text, and ops.dq_results keeps it raw."""

from __future__ import annotations

import html
import shutil
import subprocess
from pathlib import Path

import duckdb
import pytest

from expectations import DataQualityFailed, validate

SCRIPT = "<script>document.body.id='scriptran'</script>"  # lower case: the raw gate lowers codes such as status
IMG = "<img src=x onerror=document.body.dataset.imgRan=1>"


@pytest.fixture
def warehouse(tiny_warehouse_copy) -> Path:
    """This test's own copy of the session's tiny warehouse."""
    return tiny_warehouse_copy


def dump_dom(browser: str, page: Path) -> str:
    """The DOM after the page's scripts ran (what a reader's browser would end up with)."""
    proc = subprocess.run(
        [browser, "--headless", "--no-sandbox", "--disable-gpu", "--virtual-time-budget=3000", "--dump-dom",
         page.as_uri()],
        check=True, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    return proc.stdout


def test_vendor_values_in_data_docs_are_text_and_no_script_runs(warehouse):
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if not browser:
        pytest.skip("chromium is not installed (make browser)")
    con = duckdb.connect(str(warehouse))
    try:
        (charge_id,) = con.execute("select min(id) from raw_recharge.charges").fetchall()[0]
        con.execute(
            "update raw_recharge.charges set record = json_merge_patch(record, json_object('status', ?, "
            "'processed_at', ?)) where id = ?",
            [SCRIPT, IMG, charge_id],
        )
    finally:
        con.close()
    with pytest.raises(DataQualityFailed) as failed:
        validate("raw")
    assert SCRIPT.lower() in str(failed.value)  # the gate's message quotes the value as it is (codes are lowered)

    docs = warehouse.parent / "data_docs"
    pages = [p for p in docs.rglob("*.html") if "raw_recharge.charges" in p.read_text() and p.name != "index.html"]
    failing = [p for p in pages if "scriptran" in p.read_text()]
    assert failing, "no Data Docs page shows the offending value: the test would prove nothing"
    for page in failing:
        text = page.read_text()
        assert SCRIPT.lower() not in text and IMG not in text  # never raw in the HTML source
        assert html.escape(SCRIPT.lower()) in text and html.escape(IMG) in text  # escaped there
        dom = dump_dom(browser, page)
        assert 'id="scriptran"' not in dom  # the script did not run
        assert 'data-img-ran="1"' not in dom  # nor the image's onerror
        # and the reader sees the values as the vendor sent them (text nodes, escaped once, not twice)
        assert html.escape(SCRIPT.lower(), quote=False) in dom and html.escape(IMG, quote=False) in dom

    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        stored = con.execute(
            "select unexpected_examples from ops.dq_results where table_name = 'raw_recharge.charges' and not success"
        ).fetchall()
    finally:
        con.close()
    assert any(SCRIPT.lower() in (e or "") for (e,) in stored)  # the record of what failed keeps the raw value
