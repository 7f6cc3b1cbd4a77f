"""The registry of vendors: one line each."""

from __future__ import annotations

from ingest.client import Client
from ingest.easypost import EasyPostClient
from ingest.gorgias import GorgiasClient
from ingest.recharge import RechargeClient
from ingest.shopify import ShopifyClient

CLIENTS: dict[str, type[Client]] = {
    "gorgias": GorgiasClient,
    "recharge": RechargeClient,
    "shopify": ShopifyClient,
    "easypost": EasyPostClient,
}
