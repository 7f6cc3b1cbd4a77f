"""Hand-built canonical worlds for testing rules edge by edge (instead of hoping a simulation hits them)."""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from sandbox.calendar import local_us
from sandbox.tables import SCHEMAS, arrow_schema, part_path

AGENT = {"id": 1001, "email": "ava@acmeboxes.example"}
OTHER_AGENT = {"id": 1002, "email": "liam@acmeboxes.example"}


def t(y: int, m: int, d: int, hh: int = 0, mm: int = 0, ss: int = 0) -> int:
    """Store-local wall time as UTC microseconds."""
    return local_us(y, m, d, hh, mm, ss)


@dataclass
class World:
    clock: int = field(default_factory=lambda: t(2026, 4, 1))
    rows: dict[str, list[dict]] = field(default_factory=lambda: {name: [] for name in SCHEMAS})
    finance: dict[str, list[list[str]]] = field(
        default_factory=lambda: {
            "cs_costs.csv": [
                ["month", "cost_type", "amount", "currency", "note"],
                ["2026-01", "staffing", "1000.00", "USD", ""],
                ["2026-02", "staffing", "1000.00", "USD", ""],
                ["2026-03", "staffing", "1000.00", "USD", ""],
            ],
            "product_costs.csv": [
                ["sku", "valid_from", "unit_cost", "currency"],
                ["BOX", "2025-01-01", "20.00", "USD"],
                ["MUG", "2025-01-01", "7.00", "USD"],
            ],
            "agent_coupons.csv": [
                ["code", "agent_email", "valid_from", "valid_to"],
                ["AVA10", AGENT["email"], "2025-01-01", ""],
            ],
            "fx_rates.csv": [
                ["month", "currency", "rate_to_reporting"],
                ["2026-01", "CAD", "0.700000"],
                ["2026-02", "CAD", "0.750000"],
                ["2026-03", "CAD", "0.800000"],
            ],
            "cs_settings.csv": [["setting", "value", "valid_from"], ["refund_share", "0.10", "2025-01-01"]],
        }
    )
    _next: int = 0

    def nid(self) -> int:
        self._next += 1
        return self._next

    def add(self, table: str, **values: object) -> dict:
        row = {name: None for name, _ in SCHEMAS[table]}
        row.update(values)
        if "v_from" in row and row["v_from"] is None:
            row["v_from"] = row.get("created")
        self.rows[table].append(row)
        return row

    # ---------------------------------------------------------------- domain helpers
    def agents(self) -> None:
        for a in (AGENT, OTHER_AGENT):
            self.add(
                "gorgias_users",
                id=a["id"],
                email=a["email"],
                name="Agent",
                role="agent",
                active=True,
                created=t(2025, 1, 1),
            )

    def customer(self, email: str, shopify_id: int, gorgias_email: str | None = None) -> dict:
        self.add("shopify_customers", id=shopify_id, email=email, state="enabled", created=t(2025, 6, 1))
        g = self.add("gorgias_customers", id=shopify_id + 1, email=gorgias_email or email, created=t(2025, 6, 1))
        return {"shopify_id": shopify_id, "gorgias_id": g["id"], "email": email}

    def order(
        self,
        cust: dict,
        created: int,
        subtotal: int = 5000,
        sku: str = "BOX",
        tags: str = "",
        currency: str = "USD",
        code: str | None = None,
        cancelled_at: int | None = None,
        tax: int = 0,
        shipping: int = 0,
    ) -> int:
        oid = 5_000_000 + self.nid()
        self.add(
            "shopify_orders",
            id=oid,
            number=oid - 5_000_000 + 1000,
            email=cust["email"],
            customer_id=cust["shopify_id"],
            created=created,
            financial_status="paid",
            currency=currency,
            line_total_cents=subtotal,
            discount_cents=0,
            subtotal_cents=subtotal,
            tax_cents=tax,
            shipping_cents=shipping,
            total_cents=subtotal + tax + shipping,
            tags=tags,
            source_name="web",
            test=False,
        )
        if cancelled_at is not None:
            self.add(
                "shopify_orders",
                **{
                    **self.rows["shopify_orders"][-1],
                    "cancelled_at": cancelled_at,
                    "financial_status": "voided",
                    "v_from": cancelled_at,
                },
            )
        self.add(
            "shopify_line_items",
            id=oid * 10,
            order_id=oid,
            sku=sku,
            title=sku,
            quantity=1,
            price_cents=subtotal,
            discount_cents=0,
        )
        if code:
            self.add("shopify_discounts", order_id=oid, code=code, amount_cents=0, percent=0)
        return oid

    def refund(
        self,
        order_id: int,
        created: int,
        amount: int,
        status: str = "success",
        tax: int = 0,
        shipping: int = 0,
        discrepancy: int = 0,
    ) -> int:
        """A refund of `amount` cents of goods (pre-tax; none when 0) with their `tax`, refunded `shipping` and a
        `discrepancy` (money back tied to no item); its one transaction returns the sum of the four."""
        rid = 9_000_000 + self.nid()
        self.add(
            "shopify_refunds",
            id=rid,
            order_id=order_id,
            created=created,
            shipping_cents=shipping,
            discrepancy_cents=discrepancy,
        )
        if amount:
            self.add(
                "shopify_refund_line_items",
                refund_id=rid,
                order_id=order_id,
                line_item_id=order_id * 10,
                quantity=1,
                subtotal_cents=amount,
                tax_cents=tax,
            )
        self.add(
            "shopify_refund_transactions",
            id=rid * 10,
            refund_id=rid,
            order_id=order_id,
            kind="refund",
            status=status,
            amount_cents=amount + tax + shipping + discrepancy,
            currency="USD",
            created=created,
        )
        return rid

    def touch(
        self, cust: dict, tag: str, sent: int, agent: dict = AGENT, replies: tuple[int, ...] = (), **ticket: object
    ) -> int:
        tid = 20_000_000 + self.nid()
        fields = {
            "channel": "email",
            "via": "helpdesk",
            "from_agent": True,
            "status": "open",
            "spam": False,
            "tags": tag,
            "subject": "hi",
            "assignee_user_id": agent["id"],
            "created": sent - 1,
            **ticket,
        }
        self.add("gorgias_tickets", id=tid, customer_id=cust["gorgias_id"], **fields)
        self.add(
            "gorgias_messages",
            id=self.nid() + 400_000_000,
            ticket_id=tid,
            from_agent=True,
            public=True,
            channel="email",
            via="helpdesk",
            sender_id=agent["id"],
            sender_email=agent["email"],
            created=sent - 1,
            sent=sent,
        )
        for r in replies:
            self.add(
                "gorgias_messages",
                id=self.nid() + 400_000_000,
                ticket_id=tid,
                from_agent=False,
                public=True,
                channel="email",
                via="email",
                sender_id=cust["gorgias_id"],
                sender_email=cust["email"],
                created=r,
                sent=r,
            )
        return tid

    def renewal(
        self,
        cust: dict,
        sched: tuple[int, int, int],
        status: str,
        attempts: int,
        processed: int | None,
        order_id: int | None = None,
    ) -> None:
        from datetime import date

        days = (date(*sched) - date(1970, 1, 1)).days
        self.add(
            "recharge_charges",
            id=700_000_000 + self.nid(),
            customer_id=1,
            shopify_customer_id=cust["shopify_id"],
            email=cust["email"],
            subscription_id=1,
            type="recurring",
            status=status,
            scheduled_date=days,
            processed_at=processed,
            charge_attempts=attempts,
            shopify_order_id=order_id,
            sku="BOX",
            quantity=1,
            unit_price_cents=5000,
            subtotal_cents=5000,
            tax_cents=0,
            total_cents=5000,
            currency="USD",
            created=t(*sched) - 7 * 86_400_000_000,
            v_from=processed or t(*sched),
        )

    def signup(self, cust: dict, at: int) -> int:
        """A new subscriber: the sign-up order and the Recharge checkout charge that created it (§12 eligibility)."""
        oid = self.order(cust, at, tags="Subscription, Subscription First Order")
        self.add(
            "recharge_charges",
            id=700_000_000 + self.nid(),
            customer_id=1,
            shopify_customer_id=cust["shopify_id"],
            email=cust["email"],
            subscription_id=1,
            type="checkout",
            status="success",
            scheduled_date=at // 86_400_000_000,
            processed_at=at,
            charge_attempts=1,
            shopify_order_id=oid,
            sku="BOX",
            quantity=1,
            unit_price_cents=5000,
            subtotal_cents=5000,
            tax_cents=0,
            total_cents=5000,
            currency="USD",
            created=at,
            v_from=at,
        )
        return oid

    def write(self, folder: Path) -> Path:
        for name, rows in self.rows.items():
            path = part_path(folder, name, 0)
            path.parent.mkdir(parents=True, exist_ok=True)
            pq.write_table(pa.Table.from_pylist(rows, schema=arrow_schema(name)), path)
        (folder / "finance").mkdir(exist_ok=True)
        for name, rows in self.finance.items():
            with open(folder / "finance" / name, "w", newline="") as f:
                csv.writer(f, lineterminator="\n").writerows(rows)
        (folder / "manifest.json").write_text(json.dumps({"clock_us": self.clock}))
        return folder
