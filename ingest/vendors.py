"""The vendor clients, one per declared vendor (ingest/sources): what extracts and loads."""

from __future__ import annotations

import importlib

from ingest.client import Client
from ingest.sources import vendors


def client_class(path: str) -> type[Client]:
    """The paging client a declaration names ("module:Class")."""
    module, name = path.split(":")
    return getattr(importlib.import_module(module), name)


CLIENTS: dict[str, type[Client]] = {name: client_class(v.client) for name, v in vendors().items()}
