"""Extract runs: pages of each endpoint of a vendor -> validated landing files + a manifest.

Never opens the warehouse, so the four vendors extract in parallel. The watermark to start
from is the one the loader mirrored into the endpoint's `_state.json` after its last load.
"""

from __future__ import annotations

import logging
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from ingest.client import Client
from ingest.connections import get_connection
from ingest.endpoints import Endpoint
from ingest.http import AuthError, Unreachable
from ingest.identity import check_before_extract, connection_identity
from ingest.landing import LandingBatch, check_run_id, read_state, write_manifest
from ingest.parse import parse_ts
from ingest.vendors import CLIENTS
from settings import endpoint_landing_dir, warehouse_path

log = logging.getLogger(__name__)
DEFAULT_MAX_REJECT_RATIO = 0.01


class TooManyRejected(RuntimeError):
    pass


class ExtractFailed(RuntimeError):
    pass


@dataclass(frozen=True)
class Window:
    """What to read. None bounds are open; `full_refresh` ignores the watermark."""

    since: datetime | None = None
    until: datetime | None = None
    full_refresh: bool = False


def new_run_id(prefix: str = "") -> str:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    return f"{prefix}{stamp}-{uuid.uuid4().hex[:8]}"


def start_from(ep: Endpoint, window: Window) -> datetime | None:
    """Explicit window first; else the loaded watermark minus the lookback; else everything."""
    if window.full_refresh or not ep.incremental:
        return None
    if window.since is not None:
        return window.since
    if not warehouse_path().exists():  # the warehouse lost: loaded runs' landing files are pruned, so refetch all
        return None
    mark = read_state(endpoint_landing_dir(ep.vendor, ep.entity)).get("watermark")
    return parse_ts(mark) - ep.lookback if mark else None


def extract_endpoint(
    client: Client, ep: Endpoint, window: Window, run_id: str, max_reject_ratio: float = DEFAULT_MAX_REJECT_RATIO
) -> dict:
    folder = endpoint_landing_dir(ep.vendor, ep.entity)
    since = start_from(ep, window)
    batch = LandingBatch(ep, folder, run_id)
    stats = client.session.stats
    before = (stats.requests, stats.retries, stats.throttled)
    started = time.monotonic()
    pages = 0
    stop: Exception | None = None
    manifest = {
        "vendor": ep.vendor,
        "entity": ep.entity,
        "run_id": run_id,
        "since": since,
        "until": window.until,
        "full_refresh": window.full_refresh or not ep.incremental,
        "started_at": datetime.now(UTC).isoformat(),
        "source_identity": connection_identity(client.conn),  # the load refuses records of another source
    }
    try:
        for page in client.pages(ep, since, window.until):
            pages += 1
            batch.add(page, datetime.now(UTC))
        batch.flush()
        total = batch.n_accepted + batch.n_rejected
        if total and batch.n_rejected / total > max_reject_ratio:
            raise TooManyRejected(
                f"{ep.name}: {batch.n_rejected} of {total} records rejected "
                f"(> {max_reject_ratio:.1%}); see {folder}/rejected/"
            )
        status, error = "succeeded", None
    except Exception as exc:  # recorded in the manifest; extract_vendor raises it again
        batch.flush()  # nothing fetched is lost: what came is landed, rejected records stay quarantined
        status, error = "failed", f"{type(exc).__name__}: {exc}"
        # the vendor's other endpoints would meet the same refused credential or host: raised as it is
        stop = exc if isinstance(exc, (AuthError, Unreachable)) else None
    finally:
        batch.close()
    manifest.update(
        {
            "status": status,
            "error": error,
            "pages": pages,
            "records": batch.n_accepted,
            "rejected": batch.n_rejected,
            "files": batch.files,
            "rejected_files": batch.rejected_files,
            "max_version": batch.newest,
            "requests": stats.requests - before[0],
            "retries": stats.retries - before[1],
            "throttled": stats.throttled - before[2],
            "duration_s": round(time.monotonic() - started, 3),
            "finished_at": datetime.now(UTC).isoformat(),
        }
    )
    write_manifest(folder, run_id, manifest)
    log.info(
        "%s: %s, %d pages, %d records, %d rejected, %d retries, %d throttled",
        ep.name,
        status,
        pages,
        batch.n_accepted,
        batch.n_rejected,
        manifest["retries"],
        manifest["throttled"],
    )
    if stop is not None:
        raise stop
    return manifest


def extract_vendor(
    vendor: str,
    window: Window | None = None,
    run_id: str | None = None,
    entities: list[str] | None = None,
    max_reject_ratio: float = DEFAULT_MAX_REJECT_RATIO,
) -> list[dict]:
    """Extract every endpoint of a vendor (one throttle per credential, so endpoints run one after the other)."""
    run_id = new_run_id() if run_id is None else check_run_id(run_id)  # before any request: it names the landing files
    cls = CLIENTS[vendor]
    client = cls(get_connection(cls.conn_id))
    check_before_extract(vendor, connection_identity(client.conn))  # before a watermark of another source is read
    window = window or Window()
    results = []
    for ep in cls.endpoints:
        if entities is None or ep.entity in entities:
            results.append(extract_endpoint(client, ep, window, run_id, max_reject_ratio))
    failed = [f"{r['vendor']}.{r['entity']}: {r['error']}" for r in results if r["status"] != "succeeded"]
    if failed:
        raise ExtractFailed("extraction failed for " + "; ".join(failed))
    return results


def extract_all_vendors(window: Window | None = None) -> dict[str, list[dict]]:
    """Every vendor at once, one thread each (extracts never touch the warehouse; a vendor's endpoints
    stay in one thread so its throttle sees all of that credential's requests)."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(len(CLIENTS)) as pool:
        return dict(zip(CLIENTS, pool.map(lambda v: extract_vendor(v, window), CLIENTS), strict=True))
