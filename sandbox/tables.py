"""Canonical tables of the simulated company: the ground truth behind every emulator.

One table per vendor entity. Entities that change over time have one row per *version*
(`v_from` = when that version appeared, i.e. the record's updated time); the state at
clock T is, per id, the version with the greatest `v_from <= T`. Child tables (line
items, refunds, ...) are immutable rows keyed by their parent. Times are int64
microseconds since the epoch (UTC); money is int64 cents in the record's currency;
dates are int32 days since the epoch.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

I64, I32, STR, BOOL = pa.int64(), pa.int32(), pa.string(), pa.bool_()

SCHEMAS: dict[str, list[tuple[str, pa.DataType]]] = {
    "gorgias_users": [
        ("id", I64),
        ("email", STR),
        ("name", STR),
        ("role", STR),
        ("active", BOOL),
        ("created", I64),
        ("v_from", I64),
    ],
    "gorgias_tags": [("id", I64), ("name", STR), ("created", I64), ("v_from", I64)],
    "gorgias_customers": [
        ("id", I64),
        ("email", STR),
        ("name", STR),
        ("external_id", STR),
        ("shopify_customer_id", I64),
        ("created", I64),
        ("v_from", I64),
    ],
    "gorgias_tickets": [
        ("id", I64),
        ("customer_id", I64),
        ("channel", STR),
        ("via", STR),
        ("from_agent", BOOL),
        ("status", STR),
        ("spam", BOOL),
        ("trashed", I64),
        ("tags", STR),
        ("subject", STR),
        ("assignee_user_id", I64),
        ("created", I64),
        ("closed", I64),
        ("v_from", I64),
    ],
    "gorgias_messages": [
        ("id", I64),
        ("ticket_id", I64),
        ("from_agent", BOOL),
        ("public", BOOL),
        ("channel", STR),
        ("via", STR),
        ("rule_id", I64),
        ("sender_id", I64),
        ("sender_email", STR),
        ("receiver_email", STR),
        ("body", STR),
        ("created", I64),
        ("sent", I64),
        ("failed", I64),
        ("v_from", I64),
    ],
    "gorgias_surveys": [
        ("id", I64),
        ("ticket_id", I64),
        ("customer_id", I64),
        ("score", I64),
        ("sent", I64),
        ("scored", I64),
        ("created", I64),
        ("v_from", I64),
    ],
    "recharge_customers": [
        ("id", I64),
        ("email", STR),
        ("first_name", STR),
        ("last_name", STR),
        ("shopify_customer_id", I64),
        ("created", I64),
        ("v_from", I64),
    ],
    "recharge_subscriptions": [
        ("id", I64),
        ("customer_id", I64),
        ("status", STR),
        ("price_cents", I64),
        ("currency", STR),
        ("sku", STR),
        ("created", I64),
        ("cancelled_at", I64),
        ("cancellation_reason", STR),
        ("next_charge_date", I32),
        ("max_retries_reached", BOOL),
        ("v_from", I64),
    ],
    "recharge_charges": [
        ("id", I64),
        ("customer_id", I64),
        ("shopify_customer_id", I64),
        ("email", STR),
        ("subscription_id", I64),
        ("type", STR),
        ("status", STR),
        ("scheduled_date", I32),
        ("processed_at", I64),
        ("charge_attempts", I64),
        ("retry_date", I64),
        ("error_type", STR),
        ("shopify_order_id", I64),
        ("sku", STR),
        ("quantity", I64),
        ("unit_price_cents", I64),
        ("subtotal_cents", I64),
        ("tax_cents", I64),
        ("total_cents", I64),
        ("currency", STR),
        ("created", I64),
        ("v_from", I64),
    ],
    "recharge_orders": [
        ("id", I64),
        ("charge_id", I64),
        ("customer_id", I64),
        ("shopify_customer_id", I64),
        ("email", STR),
        ("type", STR),
        ("status", STR),
        ("shopify_order_id", I64),
        ("shopify_order_number", I64),
        ("scheduled_at", I64),
        ("processed_at", I64),
        ("total_cents", I64),
        ("currency", STR),
        ("created", I64),
        ("v_from", I64),
    ],
    "shopify_customers": [
        ("id", I64),
        ("email", STR),
        ("first_name", STR),
        ("last_name", STR),
        ("state", STR),
        ("created", I64),
        ("v_from", I64),
    ],
    "shopify_orders": [
        ("id", I64),
        ("number", I64),
        ("email", STR),
        ("customer_id", I64),
        ("created", I64),
        ("cancelled_at", I64),
        ("cancel_reason", STR),
        ("financial_status", STR),
        ("currency", STR),
        ("line_total_cents", I64),
        ("discount_cents", I64),
        ("subtotal_cents", I64),
        ("tax_cents", I64),
        ("shipping_cents", I64),
        ("total_cents", I64),
        ("tags", STR),
        ("source_name", STR),
        ("test", BOOL),
        ("v_from", I64),
    ],
    "shopify_line_items": [
        ("id", I64),
        ("order_id", I64),
        ("sku", STR),
        ("title", STR),
        ("quantity", I64),
        ("price_cents", I64),
        ("discount_cents", I64),
    ],
    "shopify_discounts": [("order_id", I64), ("code", STR), ("amount_cents", I64), ("percent", I64)],
    "shopify_refunds": [
        ("id", I64),
        ("order_id", I64),
        ("created", I64),
        ("note", STR),
        ("shipping_cents", I64),  # shipping refunded: an order adjustment of kind shipping_refund
        ("discrepancy_cents", I64),  # money back tied to no item: an order adjustment of kind refund_discrepancy
    ],
    "shopify_refund_line_items": [
        ("refund_id", I64),
        ("order_id", I64),
        ("line_item_id", I64),
        ("quantity", I64),
        ("subtotal_cents", I64),  # pre-tax, after the line's discounts
        ("tax_cents", I64),
    ],
    "shopify_refund_transactions": [
        ("id", I64),
        ("refund_id", I64),
        ("order_id", I64),
        ("kind", STR),
        ("status", STR),
        ("amount_cents", I64),
        ("currency", STR),
        ("created", I64),
    ],
    "easypost_shipments": [
        ("id", STR),
        ("mode", STR),
        ("reference", STR),
        ("order_id", I64),
        ("tracking_code", STR),
        ("carrier", STR),
        ("service", STR),
        ("rate_cents", I64),
        ("status", STR),
        ("refund_status", STR),
        ("is_return", BOOL),
        ("created", I64),
        ("v_from", I64),
    ],
    "easypost_claims": [
        ("id", STR),
        ("type", STR),
        ("status", STR),
        ("status_detail", STR),
        ("requested_cents", I64),
        ("approved_cents", I64),
        ("insurance_cents", I64),
        ("shipment_id", STR),
        ("tracking_code", STR),
        ("mode", STR),
        ("created", I64),
        ("status_ts", I64),
        ("v_from", I64),
    ],
}

# Child tables carry no versions; everything else is versioned by v_from.
CHILD_TABLES = {
    "shopify_line_items",
    "shopify_discounts",
    "shopify_refunds",
    "shopify_refund_line_items",
    "shopify_refund_transactions",
}


def arrow_schema(table: str) -> pa.Schema:
    return pa.schema(SCHEMAS[table])


class Sink:
    """Buffers row tuples (in schema order) and streams them to one Parquet file."""

    FLUSH_ROWS = 250_000

    def __init__(self, table: str, path: Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        self.table = table
        self.schema = arrow_schema(table)
        self.rows: list[tuple] = []
        self.count = 0
        self._writer = pq.ParquetWriter(path, self.schema, compression="zstd")

    def add(self, row: tuple) -> None:
        self.rows.append(row)
        if len(self.rows) >= self.FLUSH_ROWS:
            self.flush()

    def flush(self) -> None:
        if not self.rows:
            return
        # Row tuples convert in one C++ pass as a struct array: ~15x faster than transposing in Python.
        rows = pa.array(self.rows, type=pa.struct(self.schema))
        self._writer.write_batch(pa.RecordBatch.from_struct_array(rows))
        self.count += len(self.rows)
        self.rows = []

    def close(self) -> None:
        self.flush()
        self._writer.close()


def part_path(folder: Path, table: str, shard: int) -> Path:
    """Each table is a folder of one Parquet part per simulation shard."""
    return folder / table / f"part-{shard}.parquet"


def read_table(folder: Path, table: str) -> pa.Table:
    return pq.read_table(folder / table, schema=arrow_schema(table))
