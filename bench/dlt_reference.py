"""The benchmark's peer loader: dlt (dlthub.com) reads the same vendor pages into DuckDB, so our extract+load
time has an off-the-shelf reference. Standalone (stdlib + dlt, run in .venv-dlt/, which has no project code):

    .venv-dlt/bin/python bench/dlt_reference.py --out /tmp/dlt.duckdb

Reads the AIRFLOW_CONN_{GORGIAS,RECHARGE,SHOPIFY,EASYPOST}_DEFAULT connections our ingest reads and loads every
endpoint ingest/sources/<vendor>.py declares (same paths, page sizes and fixed params; a full extraction) with dlt's
rest_api source: one root table per endpoint, `<vendor>_<entity>` in schema `raw`, all in one pipeline whose
resources extract in parallel. Normalization is dlt's default (nested lists become child tables): what a peer
user gets. Load files are Parquet, as dlt's DuckDB docs advise: the default INSERT VALUES files did not finish
at demo scale (20 load threads ran the machine out of memory). Retries (5xx, 429 with Retry-After) are dlt's.
Prints one JSON line: {"records": {table: count}, "total_records": N, "seconds": wall, "steps": {step: s}}.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from functools import partial
from pathlib import Path
from urllib.parse import parse_qsl, unquote, urlsplit

STARTED = time.monotonic()  # the wall time counts dlt's import too: a peer user pays it

# Mirrors the declarations in ingest/sources/<vendor>.py (path, envelope, page size, fixed params of the first
# request); kept by hand because this script cannot import the project. Gorgias reads newest first by the
# endpoint's order field, Recharge always sorts by updated_at (as our clients do on a full extraction).
ENDPOINTS: dict[str, list[tuple[str, str, str, dict]]] = {
    "gorgias": [
        ("tickets", "/api/tickets", "data", {"limit": 100, "order_by": "updated_datetime:desc"}),
        ("messages", "/api/messages", "data", {"limit": 100, "order_by": "created_datetime:desc"}),
        ("customers", "/api/customers", "data", {"limit": 100, "order_by": "updated_datetime:desc"}),
        ("users", "/api/users", "data", {"limit": 100, "order_by": "created_datetime:desc"}),
        ("tags", "/api/tags", "data", {"limit": 100, "order_by": "created_datetime:desc"}),
        ("satisfaction_surveys", "/api/satisfaction-surveys", "data", {"limit": 100}),
    ],
    "recharge": [
        (entity, f"/{entity}", entity, {"limit": 250, "sort_by": "updated_at-asc"})
        for entity in ("customers", "subscriptions", "charges", "orders")
    ],
    "shopify": [
        ("orders", "/orders.json", "orders", {"limit": 250, "status": "any"}),
        ("customers", "/customers.json", "customers", {"limit": 250}),
    ],
    "easypost": [
        ("shipments", "/shipments", "shipments", {"page_size": 100}),
        ("claims", "/claims", "claims", {"page_size": 100}),
    ],
}


def connection(vendor: str) -> dict:
    """host/login/password/extra of AIRFLOW_CONN_<VENDOR>_DEFAULT, JSON or URI form (as ingest/connections.py)."""
    name = f"AIRFLOW_CONN_{vendor.upper()}_DEFAULT"
    raw = os.environ.get(name, "").strip()
    if not raw:
        sys.exit(f"{name} is not set")
    if raw.startswith("{"):
        d = json.loads(raw)
        host = d.get("host") or ""
        if d.get("port") and "://" in host and host.count(":") < 2:
            host = f"{host}:{d['port']}"
        extra = d.get("extra") or {}
        extra = json.loads(extra) if isinstance(extra, str) and extra else extra or {}
        return {"host": host.rstrip("/"), "login": d.get("login") or "", "password": d.get("password") or "", **extra}
    u = urlsplit(raw)
    host = f"{u.scheme if u.scheme in ('http', 'https') else 'https'}://{u.hostname}" + (f":{u.port}" if u.port else "")
    extra = dict(parse_qsl(u.query))
    return {"host": host, "login": unquote(u.username or ""), "password": unquote(u.password or ""), **extra}


def paginators():
    """The two vendor rules dlt's stock paginators do not cover."""
    from dlt.sources.helpers.rest_client.paginators import BaseReferencePaginator, JSONResponseCursorPaginator

    class RechargeCursor(JSONResponseCursorPaginator):
        """`next_cursor`, but a request with a cursor may carry only `limit` (anything else is a 422)."""

        def __init__(self) -> None:
            super().__init__(cursor_path="next_cursor", cursor_param="cursor")

        def update_request(self, request) -> None:
            request.params = {"limit": (request.params or {}).get("limit"), "cursor": self._next_reference}

    class EasyPostBeforeId(BaseReferencePaginator):
        """Newest first: the same query again with `before_id` = the page's last id, while `has_more`."""

        def update_state(self, response, data=None) -> None:
            more = response.json().get("has_more") and data
            self._next_reference = data[-1]["id"] if more else None

        def update_request(self, request) -> None:
            request.params = {**(request.params or {}), "before_id": self._next_reference}

    return RechargeCursor, EasyPostBeforeId


def client_token(host: str, client_id: str, client_secret: str) -> str:
    """Shopify's client credentials grant, here because this script cannot import the project (the sandbox's
    own helper imports the emulators, whose dependencies dlt's venv does not have)."""
    import requests  # dlt's own dependency

    form = {"grant_type": "client_credentials", "client_id": client_id, "client_secret": client_secret}
    r = requests.post(f"{host}/admin/oauth/access_token", data=form, timeout=30)
    r.raise_for_status()
    return r.json()["access_token"]


def vendor_config(vendor: str) -> dict:
    """A rest_api config for one vendor: base URL, auth headers and paginator as the vendor requires."""
    from dlt.sources.helpers.rest_client.auth import HttpBasicAuth
    from dlt.sources.helpers.rest_client.paginators import HeaderLinkPaginator, JSONResponseCursorPaginator

    recharge_cursor, easypost_before_id = paginators()
    c = connection(vendor)
    client: dict = {"base_url": c["host"]}
    if vendor == "gorgias":
        client["auth"] = HttpBasicAuth(c["login"], c["password"])
        paginator = partial(JSONResponseCursorPaginator, cursor_path="meta.next_cursor", cursor_param="cursor")
    elif vendor == "recharge":
        client["headers"] = {"X-Recharge-Access-Token": c["password"], "X-Recharge-Version": "2021-11"}
        paginator = recharge_cursor
    elif vendor == "shopify":
        client["base_url"] = f"{c['host']}/admin/api/{c.get('api_version', '2026-10')}"
        token = c.get("access_token") or client_token(c["host"], c["login"], c["password"])
        # dlt's rest_api runs no bulk operations: it pages the sandbox's REST orders and customers (same records)
        client["headers"] = {"X-Shopify-Access-Token": token}
        paginator = HeaderLinkPaginator  # a page_info URL is followed as given: it carries limit, nothing else
    else:
        client["base_url"] = f"{c['host']}/v2"
        client["auth"] = HttpBasicAuth(c["password"], "")  # the API key is the user, the password is empty
        paginator = easypost_before_id
    resources = [
        {
            "name": f"{vendor}_{entity}",
            "endpoint": {"path": path, "params": params, "data_selector": envelope, "paginator": paginator()},
        }
        for entity, path, envelope, params in ENDPOINTS[vendor]
    ]
    # replace: a second run into the same file holds that run's records, not twice as many
    return {"client": client, "resource_defaults": {"write_disposition": "replace"}, "resources": resources}


def run(out: Path, work: Path) -> dict:
    # Set before dlt is imported: no telemetry, nothing in ~/.dlt, no .dlt/ config from the working directory, and
    # quiet (no progress bars is dlt's default; ERROR hides its per-table "column got no data" warnings).
    os.environ.update(
        {
            "RUNTIME__DLTHUB_TELEMETRY": "false",
            "RUNTIME__LOG_LEVEL": "ERROR",
            "DLT_DATA_DIR": str(work),
            "DLT_PROJECT_DIR": str(work),
            "DLT_LOCAL_DIR": str(work),
        }
    )
    import dlt
    from dlt.sources.rest_api import rest_api_resources

    @dlt.source(name="vendors", parallelized=True)
    def vendors():
        """All vendors in one source, so dlt's extract thread pool interleaves every endpoint's pages."""
        for vendor in ENDPOINTS:
            yield from rest_api_resources(vendor_config(vendor))

    pipeline = dlt.pipeline(
        pipeline_name="dlt_reference",
        pipelines_dir=str(work / "pipelines"),
        destination=dlt.destinations.duckdb(str(out)),
        dataset_name="raw",
    )
    pipeline.run(vendors(), loader_file_format="parquet")
    seconds = time.monotonic() - STARTED
    steps = {s.step: round((s.finished_at - s.started_at).total_seconds(), 2) for s in pipeline.last_trace.steps}
    tables = [f"{vendor}_{entity}" for vendor, eps in ENDPOINTS.items() for entity, *_ in eps]
    with pipeline.sql_client() as sql:
        records = {t: sql.execute_sql(f"SELECT count(*) FROM {sql.make_qualified_table_name(t)}")[0][0] for t in tables}
    return {"records": records, "total_records": sum(records.values()), "seconds": round(seconds, 2), "steps": steps}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, required=True, help="the DuckDB file to load into")
    out = ap.parse_args().out.resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{out.name}.dlt-", dir=out.parent))
    try:
        result = run(out, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
