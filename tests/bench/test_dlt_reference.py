"""The dlt reference keeps its own copy of our endpoint declarations (its venv has no project code): the copy
must read the same pages, or the benchmark's extract+load ratio compares different work."""

from __future__ import annotations

from bench.dlt_reference import ENDPOINTS
from ingest.vendors import CLIENTS


def test_the_dlt_reference_reads_every_endpoint_we_declare_with_the_same_pages():
    """Shopify is read by bulk operations, which dlt's rest_api cannot run: its copy pages the sandbox's REST
    orders and customers, the same records."""
    ours = {
        (vendor, ep.entity, ep.path, ep.envelope, ep.page_size, tuple(sorted(ep.params.items())))
        for vendor, client in CLIENTS.items()
        for ep in client.endpoints
        if vendor != "shopify"
    }
    assert {e[0] for e in ENDPOINTS["shopify"]} == {ep.entity for ep in CLIENTS["shopify"].endpoints}
    page_size = {"limit", "page_size"}
    theirs = {
        (vendor, entity, path, envelope, next(v for k, v in params.items() if k in page_size),
         tuple(sorted((k, v) for k, v in params.items() if k not in page_size | {"order_by", "sort_by"})))
        for vendor, endpoints in ENDPOINTS.items()
        for entity, path, envelope, params in endpoints
        if vendor != "shopify"
    }  # fmt: skip
    assert theirs == ours
