"""Every source entity, declared once: one module per vendor here (`VENDOR = Vendor(...)`, its endpoints with
their key, version fields, paging, required fields, types, money, statuses and freshness).

A new vendor is found by its module alone: the extraction DAG, `pipeline.run`, the loader, the raw quality
gate and the dbt sources YAML all read `vendors()`. Light on purpose: DAG files call it at every parse.
"""

from __future__ import annotations

import importlib
import pkgutil

from ingest.endpoints import Endpoint, Vendor


def vendors() -> dict[str, Vendor]:
    """Every declared vendor by name, in name order (the modules of this package that declare a VENDOR)."""
    found = {}
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        vendor = getattr(importlib.import_module(f"{__name__}.{info.name}"), "VENDOR", None)
        if isinstance(vendor, Vendor):
            found[vendor.name] = vendor
    return found


def endpoints() -> tuple[Endpoint, ...]:
    """Every vendor endpoint (source entity), vendor by vendor."""
    return tuple(ep for vendor in vendors().values() for ep in vendor.endpoints)
