"""The answer key: every mart of business-rules §10, computed from the simulation's canonical
tables in plain Python with exact decimals, independently of the dbt SQL it judges.

It sees what the vendors would show at clock `as_of` (the latest version of each record
with `v_from <= as_of`), applies the business rules (docs/rules.md), and writes
one CSV per mart. Money is Decimal, rounded half up to the cent per order / refund / cost
row, shares once per month.
"""

from __future__ import annotations

import csv
import json
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal, localcontext
from pathlib import Path

from sandbox import holdout
from sandbox.calendar import DAY, date_us, end_of_local_day_us, from_us, local_date, local_month
from sandbox.tables import CHILD_TABLES, read_table

CENT = Decimal("0.01")
RATE = Decimal("0.0001")
ZERO = Decimal("0")
Z95 = Decimal("1.959963985")  # §12: the two-sided 95% normal quantile
INCREMENTAL = ("incremental_net_contribution", "incremental_net_contribution_low", "incremental_net_contribution_high")
SENSITIVITY_SHARES = [Decimal("0.025") * k for k in range(9)]  # §12: 0%, 2.5%, ..., 20%


@dataclass(frozen=True)
class Campaign:
    key: str
    kind: str  # "touch" campaigns come from helpdesk tickets; "coupon" from discount codes
    tag: str | None = None
    window_days: int = 0
    reply_required: bool = False
    eligible: str = "non_renewal"  # renewal | non_renewal | coupon
    control_share: Decimal | None = None  # §12: a control group, held out by sandbox.holdout's hash
    control_salt: str | None = None


@dataclass
class Rules:
    """The settings of business rules §2-§6, with their documented defaults."""

    campaigns: list[Campaign] = field(
        default_factory=lambda: [
            Campaign("winback", "touch", "cs-winback", 14, False, "renewal", Decimal("0.10"), "winback-q1"),
            Campaign("upsell", "touch", "cs-upsell-welcome", 7, True, "non_renewal", Decimal("0.10"), "welcome-q1"),
            Campaign("coupon", "coupon", eligible="coupon"),
        ]
    )  # in priority order
    renewal_day: int = 15
    dunning_days: int = 12
    reporting_currency: str = "USD"
    replacement_tag: str = "replacement"
    rule_version: str = "v2"  # v2: refunds reverse revenue by their goods (+ discrepancies); v1 by the money returned
    default_refund_share: Decimal = Decimal("0.10")


def money(cents: int) -> Decimal:
    return Decimal(cents) / 100


def cent(x: Decimal) -> Decimal:
    return x.quantize(CENT, rounding=ROUND_HALF_UP)


def ratio(num: int | Decimal, den: int | Decimal) -> Decimal | None:
    return (Decimal(num) / Decimal(den)).quantize(RATE, rounding=ROUND_HALF_UP) if den else None


def quotient(num: int | Decimal, den: int | Decimal, places: Decimal) -> Decimal | None:
    """num / den rounded half up (away from zero) to `places`; None when den is 0."""
    return (Decimal(num) / Decimal(den)).quantize(places, rounding=ROUND_HALF_UP) if den else None


def wald_interval(xt: int, nt: int, xc: int, nc: int, z: Decimal = Z95) -> tuple[Decimal, Decimal] | None:
    """95% interval for pt - pc by the normal approximation with unpooled standard error (Wald), to 4
    decimals: (pt - pc) -+ z * sqrt(pt(1-pt)/nt + pc(1-pc)/nc). None when a group is empty."""
    if not nt or not nc:
        return None
    with localcontext() as ctx:
        ctx.prec = 40
        pt, pc = Decimal(xt) / nt, Decimal(xc) / nc
        half = z * (pt * (1 - pt) / nt + pc * (1 - pc) / nc).sqrt()
        return ((pt - pc - half).quantize(RATE, ROUND_HALF_UP), (pt - pc + half).quantize(RATE, ROUND_HALF_UP))


def month_date(ts: int) -> date:
    d = local_date(ts)
    return date(d.year, d.month, 1)


def iso(ts: int | None) -> str:
    return "" if ts is None else from_us(ts).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class DataQualityError(Exception):
    """The data cannot be published: a missing fx rate, a SKU without a cost, ..."""


# ---------------------------------------------------------------------------- visible state
def snapshot(folder: Path, table: str, as_of: int) -> list[dict]:
    """Rows as the vendor shows them at `as_of`: per id the latest version with v_from <= as_of."""
    rows = read_table(folder, table).to_pylist()
    if table in CHILD_TABLES:
        return rows
    latest: dict = {}
    for r in rows:
        if r["v_from"] <= as_of:
            prev = latest.get(r["id"])
            if prev is None or r["v_from"] >= prev["v_from"]:
                latest[r["id"]] = r
    return list(latest.values())


@dataclass
class Finance:
    fx: dict[tuple[str, str], Decimal]
    product_costs: dict[str, list[tuple[date, Decimal, str]]]
    coupons: dict[str, list[tuple[date, date | None, str]]]
    costs: list[dict]
    refund_share: list[tuple[date, Decimal]]

    @classmethod
    def load(cls, folder: Path) -> Finance:
        def rows(name: str) -> list[dict]:
            with open(folder / name, newline="") as f:
                return list(csv.DictReader(f))

        fx = {(r["month"], r["currency"]): Decimal(r["rate_to_reporting"]) for r in rows("fx_rates.csv")}
        costs: dict[str, list] = defaultdict(list)
        for r in rows("product_costs.csv"):
            costs[r["sku"]].append((date.fromisoformat(r["valid_from"]), Decimal(r["unit_cost"]), r["currency"]))
        coupons: dict[str, list] = defaultdict(list)
        for r in rows("agent_coupons.csv"):
            coupons[r["code"].strip().lower()].append(
                (
                    date.fromisoformat(r["valid_from"]),
                    date.fromisoformat(r["valid_to"]) if r["valid_to"] else None,
                    r["agent_email"].strip().lower(),
                )
            )
        share = sorted(
            (date.fromisoformat(r["valid_from"]), Decimal(r["value"]))
            for r in rows("cs_settings.csv")
            if r["setting"] == "refund_share"
        )
        return cls(fx, {k: sorted(v) for k, v in costs.items()}, dict(coupons), rows("cs_costs.csv"), share)


class AnswerKey:
    def __init__(self, sim: Path, as_of: int | None = None, rules: Rules | None = None, finance: Path | None = None):
        manifest = json.loads((sim / "manifest.json").read_text())
        self.as_of = manifest["clock_us"] if as_of is None else as_of
        self.rules = rules or Rules()
        self.fin = Finance.load(finance or sim / "finance")
        t = self.as_of
        self.orders = {o["id"]: o for o in snapshot(sim, "shopify_orders", t) if not o["test"]}
        self.lines = defaultdict(list)
        for li in snapshot(sim, "shopify_line_items", t):
            if li["order_id"] in self.orders:
                self.lines[li["order_id"]].append(li)
        self.codes = defaultdict(list)
        for d in snapshot(sim, "shopify_discounts", t):
            if d["order_id"] in self.orders:
                self.codes[d["order_id"]].append(d["code"])
        txns = defaultdict(int)
        for x in snapshot(sim, "shopify_refund_transactions", t):
            if x["kind"] == "refund" and x["status"] == "success":
                txns[x["refund_id"]] += x["amount_cents"]
        goods = defaultdict(int)
        for li in snapshot(sim, "shopify_refund_line_items", t):
            goods[li["refund_id"]] += li["subtotal_cents"]
        self.refunds = [
            dict(r, amount_cents=txns[r["id"]], reversal_cents=goods[r["id"]] + (r["discrepancy_cents"] or 0))
            for r in snapshot(sim, "shopify_refunds", t)
            if r["created"] <= t and r["order_id"] in self.orders
        ]
        self.charges = snapshot(sim, "recharge_charges", t)
        self.shipments = [s for s in snapshot(sim, "easypost_shipments", t) if s["mode"] == "production"]
        self.claims = [c for c in snapshot(sim, "easypost_claims", t) if c["mode"] == "production"]
        self.tickets = snapshot(sim, "gorgias_tickets", t)
        self.messages = snapshot(sim, "gorgias_messages", t)
        self.gorgias_customers = {c["id"]: c for c in snapshot(sim, "gorgias_customers", t)}
        self.users = {u["id"]: u for u in snapshot(sim, "gorgias_users", t)}
        self.shopify_by_email = {c["email"].strip().lower(): c["id"] for c in snapshot(sim, "shopify_customers", t)}
        self.compute()

    # ------------------------------------------------------------------ conversions
    def to_reporting(self, cents: int, currency: str, month: str) -> Decimal:
        if currency == self.rules.reporting_currency:
            return money(cents)
        rate = self.fin.fx.get((month, currency))
        if rate is None:
            raise DataQualityError(f"no fx rate for {currency} in {month}")
        return cent(money(cents) * rate)

    def unit_cost(self, sku: str, day: date, month: str) -> Decimal:
        rows = [r for r in self.fin.product_costs.get(sku, []) if r[0] <= day]
        if not rows:
            raise DataQualityError(f"no product cost for SKU {sku} on {day}")
        _, cost, currency = rows[-1]
        if currency == self.rules.reporting_currency:
            return cost
        rate = self.fin.fx.get((month, currency))
        if rate is None:
            raise DataQualityError(f"no fx rate for {currency} in {month}")
        return cost * rate

    def customer_key_for_email(self, email: str) -> str:
        e = email.strip().lower()
        sid = self.shopify_by_email.get(e)
        return str(sid) if sid is not None else e

    # ------------------------------------------------------------------ the rules
    def compute(self) -> None:
        self.renewal_orders = {
            c["shopify_order_id"]
            for c in self.charges
            if c["type"] == "recurring" and c["status"] == "success" and c["shopify_order_id"]
        }
        self.order_facts()
        self.touch_facts()
        self.cohort_facts()
        self.attribute()
        self.months = self.month_spine()
        self.share = {m: self.refund_share(m) for m in self.months}

    def order_facts(self) -> None:
        labels = defaultdict(int)
        by_ref = {}
        for o in self.orders.values():
            by_ref[str(o["number"])] = o["id"]
            by_ref[str(o["id"])] = o["id"]
        for s in self.shipments:
            if s["refund_status"] == "refunded":
                continue
            oid = by_ref.get((s["reference"] or "").strip().lstrip("#"))
            if oid is not None:
                labels[oid] += s["rate_cents"]
        self.fact = {}
        for oid, o in self.orders.items():
            month = local_month(o["created"])
            day = local_date(o["created"])
            cancelled = o["cancelled_at"] is not None
            goods = sum((li["quantity"] * self.unit_cost(li["sku"], day, month) for li in self.lines[oid]), ZERO)
            tags = [t.strip().lower() for t in (o["tags"] or "").split(",")]
            self.fact[oid] = {
                "month": month,
                "day": day,
                "cancelled": cancelled,
                "replacement": self.rules.replacement_tag in tags,
                "renewal": oid in self.renewal_orders,
                "net": self.to_reporting(o["subtotal_cents"], o["currency"], month),
                "cogs": cent(goods) + money(labels[oid]),
                "key": str(o["customer_id"]),
            }
        self.refund_facts = []
        for rf in self.refunds:
            if rf["amount_cents"] == 0:  # no money went back (failed or pending): not a refund yet
                continue
            o = self.orders[rf["order_id"]]
            month = local_month(rf["created"])
            self.refund_facts.append(
                {
                    "refund_id": rf["id"],
                    "order_id": rf["order_id"],
                    "created": rf["created"],
                    "month": month,
                    # money returned (§6's base) and revenue reversal (§2: goods pre-tax + discrepancies)
                    "amount": self.to_reporting(rf["amount_cents"], o["currency"], month),
                    "amount_original": money(rf["amount_cents"]),
                    "reversal": self.to_reporting(rf["reversal_cents"], o["currency"], month),
                    "reversal_original": money(rf["reversal_cents"]),
                    "currency": o["currency"],
                }
            )

    def touch_facts(self) -> None:
        by_ticket = defaultdict(list)
        for m in self.messages:
            by_ticket[m["ticket_id"]].append(m)
        self.touches = []
        tag_campaigns = {c.tag.strip().lower(): c for c in self.rules.campaigns if c.kind == "touch"}
        for t in self.tickets:
            if t["spam"] or t["trashed"] is not None:
                continue
            tags = [x.strip().lower() for x in (t["tags"] or "").split(",")]  # §3: case and spaces ignored
            campaigns = [tag_campaigns[x] for x in tags if x in tag_campaigns]
            if not campaigns:
                continue
            msgs = by_ticket[t["id"]]
            agent_msgs = [
                m
                for m in msgs
                if m["from_agent"]
                and m["public"]
                and m["via"] != "rule"
                and m["rule_id"] is None
                and m["failed"] is None
                and m["sent"] is not None
            ]
            if not agent_msgs:
                continue
            first = min(agent_msgs, key=lambda m: (m["sent"], m["id"]))
            touch_at = first["sent"]
            customer = self.gorgias_customers[t["customer_id"]]
            replies = sorted(
                (m["sent"] if m["sent"] is not None else m["created"])
                for m in msgs
                if not m["from_agent"] and m["public"]
            )
            replies = [x for x in replies if x > touch_at]
            agent = self.users.get(first["sender_id"])
            for c in campaigns:
                window_end = touch_at + c.window_days * DAY
                self.touches.append(
                    {
                        "ticket_id": t["id"],
                        "campaign": c.key,
                        "touch_at": touch_at,
                        "month": local_month(touch_at),
                        "customer_key": self.customer_key_for_email(customer["email"]),
                        "agent_email": (agent["email"] if agent else first["sender_email"]).strip().lower(),
                        "replies": replies,
                        "replied": any(x <= window_end for x in replies),
                        "first_reply_at": replies[0] if replies else None,
                        "window_end": window_end,
                    }
                )

    def cohort_facts(self) -> None:
        """Renewals, dunning outcome and the win-back cohort (§5)."""
        r = self.rules
        self.renewals = []
        for c in self.charges:
            sched = date(1970, 1, 1) + timedelta(days=c["scheduled_date"])
            if c["type"] != "recurring" or sched.day != r.renewal_day or date_us(sched) > self.as_of:
                continue
            dunning_end = end_of_local_day_us(sched + timedelta(days=r.dunning_days))
            failed = c["status"] == "error" or (c["status"] == "success" and c["charge_attempts"] > 1)
            paid_by_end = c["status"] == "success" and c["processed_at"] <= dunning_end
            self.renewals.append(
                {
                    "month": f"{sched.year:04d}-{sched.month:02d}",
                    "scheduled": date_us(sched),
                    "next_scheduled": date_us(_add_month(sched)),
                    "dunning_end": dunning_end,
                    "failed": failed,
                    "recovered": failed and paid_by_end,
                    "cohort": failed and not paid_by_end,
                    "key": str(c["shopify_customer_id"]),
                }
            )
        self.cohort_since = defaultdict(list)  # customer -> scheduled instants of their cohort renewals
        for x in self.renewals:
            if x["cohort"]:
                self.cohort_since[x["key"]].append(x["scheduled"])

    def attribute(self) -> None:
        """One winning campaign per order (§4): priority between campaigns, last touch within one."""
        r = self.rules
        touches_by_customer = defaultdict(list)
        for t in self.touches:
            touches_by_customer[(t["campaign"], t["customer_key"])].append(t)
        renewals_by_customer = defaultdict(list)
        for oid, f in self.fact.items():
            if f["renewal"] and not f["cancelled"]:
                renewals_by_customer[f["key"]].append((self.orders[oid]["created"], oid))
        for v in renewals_by_customer.values():
            v.sort()
        self.attributed = {}
        for oid, f in self.fact.items():
            if f["cancelled"] or f["replacement"]:
                continue
            created = self.orders[oid]["created"]
            for c in r.campaigns:
                win = self.qualify(c, oid, f, created, touches_by_customer, renewals_by_customer)
                if win is not None:
                    self.attributed[oid] = dict(win, campaign=c.key)
                    break

    def qualify(
        self, c: Campaign, oid: int, f: dict, created: int, touches_by_customer: dict, renewals_by_customer: dict
    ) -> dict | None:
        if c.kind == "coupon":
            for code in self.codes.get(oid, []):
                for valid_from, valid_to, agent in self.fin.coupons.get(code.strip().lower(), []):
                    if valid_from <= f["day"] and (valid_to is None or f["day"] <= valid_to):
                        return {"agent_email": agent, "ticket_id": None, "touch_at": None, "touch_month": f["month"]}
            return None
        if (c.eligible == "renewal") != f["renewal"]:
            return None
        best = None
        for t in touches_by_customer.get((c.key, f["key"]), []):
            if not (t["touch_at"] < created <= t["window_end"]):
                continue
            if c.reply_required and not any(x < created for x in t["replies"] if x <= t["window_end"]):
                continue
            if c.eligible == "renewal":
                if not any(s < t["touch_at"] for s in self.cohort_since.get(f["key"], [])):
                    continue
                after = [o for ts, o in renewals_by_customer[f["key"]] if ts > t["touch_at"]]
                if not after or after[0] != oid:
                    continue
            if best is None or (t["touch_at"], t["ticket_id"]) > (best["touch_at"], best["ticket_id"]):
                best = t
        if best is None:
            return None
        return {
            "agent_email": best["agent_email"],
            "ticket_id": best["ticket_id"],
            "touch_at": best["touch_at"],
            "touch_month": best["month"],
        }

    def month_spine(self) -> list[str]:
        months = {f["month"] for f in self.fact.values()}
        months |= {x["month"] for x in self.refund_facts}
        months |= {t["month"] for t in self.touches}
        if not months:
            return []
        lo, hi = min(months), max(months)
        out, (y, m) = [], (int(lo[:4]), int(lo[5:]))
        while f"{y:04d}-{m:02d}" <= hi:
            out.append(f"{y:04d}-{m:02d}")
            y, m = (y + 1, 1) if m == 12 else (y, m + 1)
        return out

    def refund_share(self, month: str) -> Decimal:
        first = date(int(month[:4]), int(month[5:]), 1)
        rows = [v for d, v in self.fin.refund_share if d <= first]
        return rows[-1] if rows else self.rules.default_refund_share

    # ------------------------------------------------------------------ marts
    def fct_attributed_orders(self) -> list[dict]:
        def row(oid: int, **booked: object) -> dict:
            o, f, a = self.orders[oid], self.fact[oid], self.attributed[oid]
            return {
                "order_id": oid, "row_type": "order", "refund_id": "", "order_name": f"#{o['number']}",
                "customer_key": f["key"], "campaign": a["campaign"], "agent_email": a["agent_email"],
                "touch_ticket_id": a["ticket_id"] or "", "touch_at": iso(a["touch_at"]),
                "order_at": iso(o["created"]), "booked_month": f["month"], "currency": o["currency"],
                "amount_original": money(o["subtotal_cents"]), "net_revenue": f["net"], "cogs": f["cogs"],
                "rule_version": self.rules.rule_version, **booked,
            }  # fmt: skip

        out = [row(oid) for oid in sorted(self.attributed)]
        v1 = self.rules.rule_version == "v1"  # v1 reversed the whole money returned
        for rf in sorted(self.refund_facts, key=lambda x: x["refund_id"]):
            if rf["order_id"] in self.attributed:  # a refund is a negative row in the month it is booked
                out.append(
                    row(
                        rf["order_id"],
                        row_type="refund",
                        refund_id=rf["refund_id"],
                        booked_month=rf["month"],
                        currency=rf["currency"],
                        amount_original=-rf["amount_original" if v1 else "reversal_original"],
                        net_revenue=-rf["amount" if v1 else "reversal"],
                        cogs=ZERO,
                    )
                )
        return out

    def fct_campaign_touches(self) -> list[dict]:
        return [
            {
                "ticket_id": t["ticket_id"],
                "campaign": t["campaign"],
                "customer_key": t["customer_key"],
                "agent_email": t["agent_email"],
                "touch_at": iso(t["touch_at"]),
                "touch_month": t["month"],
                "replied": t["replied"],
                "first_reply_at": iso(t["first_reply_at"]),
            }
            for t in sorted(self.touches, key=lambda t: (t["ticket_id"], t["campaign"]))
        ]

    def claims_rows(self) -> list[dict]:
        carriers = {s["id"]: s["carrier"] for s in self.shipments}
        groups: dict = defaultdict(lambda: defaultdict(lambda: ZERO))
        for c in self.claims:
            if c["status"] == "cancelled":
                continue
            g = groups[(local_month(c["status_ts"]), carriers.get(c["shipment_id"], "unknown"), c["type"])]
            g["claims_submitted"] += 1
            approved = c["status"] in ("approved", "approved_partial")
            g["claims_approved"] += 1 if approved else 0
            g["claims_rejected"] += 1 if c["status"] == "rejected" else 0
            g["claims_pending"] += 1 if c["status"] in ("submitted", "in_review") else 0
            g["amount_requested"] += money(c["requested_cents"])
            g["amount_approved"] += money(c["approved_cents"]) if approved else ZERO
        return [
            {
                "month": k[0],
                "carrier": k[1],
                "claim_type": k[2],
                **{n: (int(v) if n.startswith("claims_") else v) for n, v in g.items()},
            }
            for k, g in sorted(groups.items())
        ]

    def cs_pnl_wide(self) -> list[dict]:
        campaigns = [c.key for c in self.rules.campaigns]
        fct = self.fct_attributed_orders()
        claims = defaultdict(lambda: ZERO)
        for row in self.claims_rows():
            claims[row["month"]] += row["amount_approved"]
        costs = defaultdict(lambda: ZERO)
        for row in self.fin.costs:
            rate = (
                Decimal(1)
                if row["currency"] == self.rules.reporting_currency
                else self.fin.fx.get((row["month"], row["currency"]))
            )
            if rate is None:
                raise DataQualityError(f"no fx rate for {row['currency']} in {row['month']}")
            costs[(row["month"], row["cost_type"])] += cent(Decimal(row["amount"]) * rate)
        base = self.refund_base()
        estimates = self.incremental_estimates(fct)
        out = []
        for m in self.months:
            row: dict = {"month": m}
            for c in campaigns:
                row[f"revenue_{c}"] = sum(
                    (x["net_revenue"] for x in fct if x["campaign"] == c and x["booked_month"] == m), ZERO
                )
            row["cogs_attributed"] = sum(
                (x["cogs"] for x in fct if x["row_type"] == "order" and x["booked_month"] == m), ZERO
            )
            row["gross_profit"] = sum((row[f"revenue_{c}"] for c in campaigns), ZERO) - row["cogs_attributed"]
            row["carrier_claims_income"] = claims[m]
            for kind in ("staffing", "platform", "other"):
                row[f"cost_{kind}"] = costs[(m, kind)]
            row["refund_replacement_charge"] = cent(self.share[m] * base[m])
            row["net_contribution"] = (
                row["gross_profit"]
                + row["carrier_claims_income"]
                - row["cost_staffing"]
                - row["cost_platform"]
                - row["cost_other"]
                - row["refund_replacement_charge"]
            )
            row["is_profit_center"] = row["net_contribution"] > 0
            row["source_history_complete"] = True  # §5: the simulation holds every renewal
            delta = estimates.get(m, (ZERO, ZERO, ZERO))
            row["incremental_net_contribution"] = row["net_contribution"] + delta[0]
            row["incremental_net_contribution_low"] = row["net_contribution"] + delta[1]
            row["incremental_net_contribution_high"] = row["net_contribution"] + delta[2]
            out.append(row)
        return out

    def incremental_estimates(self, fct: list[dict]) -> dict[str, tuple[Decimal, Decimal, Decimal]]:
        """§12 per month: Σ over campaigns with a lift estimate of (incremental margin - attributed margin), and the
        same with the interval's ends (lift bound × treatment size × margin per converted treatment order)."""
        attributed: dict = defaultdict(lambda: ZERO)
        for x in fct:
            attributed[(x["booked_month"], x["campaign"])] += x["net_revenue"] - (
                x["cogs"] if x["row_type"] == "order" else ZERO
            )
        out: dict = defaultdict(lambda: [ZERO, ZERO, ZERO])
        for r in self.campaign_lift_monthly():
            if r["incremental_margin"] is None:
                continue
            m = f"{r['eligible_month']:%Y-%m}"
            ends = [
                quotient(int(ci * 10000) * r["treatment_size"] * int(r["treatment_margin"] * 100),
                         10000 * r["treatment_conversions"], Decimal(1)) / 100
                for ci in (r["lift_ci_low"], r["lift_ci_high"])
            ]  # fmt: skip
            a = attributed[(m, r["campaign"])]
            out[m][0] += r["incremental_margin"] - a
            out[m][1] += min(ends) - a
            out[m][2] += max(ends) - a
        return {m: (v[0], v[1], v[2]) for m, v in out.items()}

    def cs_pnl_long(self) -> list[dict]:
        month_level = ("month", "is_profit_center", "source_history_complete", *INCREMENTAL)
        return [
            {"month": row["month"], "line": k, "amount": v, **{c: row[c] for c in month_level[2:]}}
            for row in self.cs_pnl_wide()
            for k, v in row.items()
            if k not in month_level
        ]

    def campaign_performance(self) -> list[dict]:
        fct = self.fct_attributed_orders()
        revenue, cogs, orders = defaultdict(lambda: ZERO), defaultdict(lambda: ZERO), defaultdict(int)
        for x in fct:
            k = (self.attributed[x["order_id"]]["touch_month"], x["campaign"])
            revenue[k] += x["net_revenue"]
            if x["row_type"] == "order":
                cogs[k] += x["cogs"]
                orders[k] += 1
        contacted, replied = defaultdict(set), defaultdict(set)
        for t in self.touches:
            contacted[(t["month"], t["campaign"])].add(t["customer_key"])
            if t["replied"]:
                replied[(t["month"], t["campaign"])].add(t["customer_key"])
        out = []
        for m in self.months:
            for c in self.rules.campaigns:
                k = (m, c.key)
                n = len(contacted[k])
                out.append(
                    {
                        "month": m,
                        "campaign": c.key,
                        "contacted": n,
                        "replied": len(replied[k]),
                        "reply_rate": ratio(len(replied[k]), n),
                        "converted_orders": orders[k],
                        "conversion_rate": ratio(orders[k], n),
                        "revenue": revenue[k],
                        "cogs": cogs[k],
                        "gross_margin": revenue[k] - cogs[k],
                        "revenue_per_contact": cent(revenue[k] / n) if n else None,
                    }
                )
        return out

    def agent_performance(self) -> list[dict]:
        g: dict = defaultdict(lambda: {"touches": 0, "replies": 0, "attributed_orders": 0, "attributed_revenue": ZERO})
        for t in self.touches:
            row = g[(t["month"], t["agent_email"], t["campaign"])]
            row["touches"] += 1
            row["replies"] += 1 if t["replied"] else 0
        for x in self.fct_attributed_orders():
            row = g[(x["booked_month"], x["agent_email"], x["campaign"])]
            row["attributed_revenue"] += x["net_revenue"]
            row["attributed_orders"] += 1 if x["row_type"] == "order" else 0
        return [
            {"month": k[0], "agent_email": k[1], "campaign": k[2], **v}
            for k, v in sorted(g.items())
            if k[0] in self.months
        ]

    def winback_cohorts(self) -> list[dict]:
        winback = [c.key for c in self.rules.campaigns if c.eligible == "renewal"]
        touches = defaultdict(list)
        for t in self.touches:
            if t["campaign"] in winback:
                touches[t["customer_key"]].append(t)
        saves = defaultdict(list)  # customer -> (order created, order id, winning ticket)
        for oid, a in self.attributed.items():
            if a["campaign"] in winback:
                saves[self.fact[oid]["key"]].append((self.orders[oid]["created"], oid, a["ticket_id"]))
        renewal_orders = defaultdict(list)
        for oid, f in self.fact.items():
            if f["renewal"] and not f["cancelled"]:
                renewal_orders[f["key"]].append((self.orders[oid]["created"], f["net"]))
        g: dict = defaultdict(lambda: defaultdict(lambda: ZERO))
        for x in self.renewals:
            if x["dunning_end"] > self.as_of:
                continue  # dunning still running: the cohort is not known yet
            row = g[x["month"]]
            row["renewals"] += 1
            row["failed"] += 1 if x["failed"] else 0
            row["recovered_by_dunning"] += 1 if x["recovered"] else 0
            if not x["cohort"]:
                continue
            row["cohort_size"] += 1
            mine = [t for t in touches[x["key"]] if x["scheduled"] < t["touch_at"] <= x["next_scheduled"]]
            if not mine:
                continue
            row["contacted"] += 1
            tickets = {t["ticket_id"] for t in mine}
            saved = [s for s in saves[x["key"]] if s[2] in tickets]
            if not saved:
                continue
            created, oid, _ = min(saved)
            row["saved"] += 1
            row["recovered_revenue"] += self.fact[oid]["net"]
            row["retained_revenue_90d"] += sum(
                (net for ts, net in renewal_orders[x["key"]] if created < ts <= created + 90 * DAY), ZERO
            )
        out = []
        for m in sorted(g):
            row = g[m]
            out.append(
                {
                    "renewal_month": m,
                    **{
                        k: int(row[k])
                        for k in ("renewals", "failed", "recovered_by_dunning", "cohort_size", "contacted", "saved")
                    },
                    "save_rate": ratio(int(row["saved"]), int(row["cohort_size"])),
                    "recovered_revenue": row["recovered_revenue"],
                    "retained_revenue_90d": row["retained_revenue_90d"],
                    "source_history_complete": True,  # §5: the simulation holds every renewal
                }
            )
        return out

    # ------------------------------------------------------------------ §12 incrementality (estimates)
    def eligible_since(self, c: Campaign) -> dict[str, int]:
        """customer -> the first instant the campaign could contact them, up to as_of."""
        out: dict[str, int] = {}
        if c.eligible == "non_renewal":  # new subscribers, at the Shopify order of their sign-up (checkout) charge
            found = [
                (self.orders[ch["shopify_order_id"]]["created"], self.fact[ch["shopify_order_id"]]["key"])
                for ch in self.charges
                if ch["type"] == "checkout" and ch["shopify_order_id"] in self.orders
            ]
        else:  # the win-back cohort, when dunning ends
            found = [(x["dunning_end"], x["key"]) for x in self.renewals if x["cohort"]]
        for at, key in found:
            if at <= self.as_of and (key not in out or at < out[key]):
                out[key] = at
        return out

    def conversion(self, c: Campaign, key: str, at: int, end: int) -> int | None:
        """The first order after `at` that §4's order rules would let qualify, if within the window."""
        for created, oid in self.orders_by_key.get(key, []):
            f = self.fact[oid]
            if created <= at or f["cancelled"] or f["renewal"] != (c.eligible == "renewal"):
                continue
            if c.eligible == "renewal":
                return oid if created <= end else None
            if not f["replacement"] and created <= end:
                return oid
        return None

    def campaign_assignments(self) -> list[dict]:
        self.orders_by_key = defaultdict(list)
        for oid, o in self.orders.items():
            self.orders_by_key[self.fact[oid]["key"]].append((o["created"], oid))
        for v in self.orders_by_key.values():
            v.sort()
        touched = defaultdict(list)
        for t in self.touches:
            touched[(t["campaign"], t["customer_key"])].append(t["touch_at"])
        today = local_date(self.as_of)
        out = []
        for c in self.rules.campaigns:
            if c.control_share is None:
                continue
            for key, at in sorted(self.eligible_since(c).items()):
                end = at + c.window_days * DAY
                grp = holdout.group(c.key, key, c.control_salt or "", c.control_share)
                touches = [x for x in touched[(c.key, key)] if at <= x <= end]
                oid = self.conversion(c, key, at, end)
                final_on = local_date(end) + timedelta(days=1)
                out.append(
                    {
                        "campaign": c.key, "customer_key": key, "assignment_group": grp, "eligible_at": iso(at),
                        "eligible_month": month_date(at), "window_ends_at": iso(end), "control_share": c.control_share,
                        "assignment_hash": holdout.assignment_hash(c.key, key, c.control_salt or ""),
                        "first_touch_at": iso(min(touches)) if touches else "",
                        "is_contaminated": grp == holdout.CONTROL and bool(touches), "is_converted": oid is not None,
                        "conversion_order_id": oid,
                        "conversion_at": iso(self.orders[oid]["created"]) if oid else "",
                        "conversion_margin": self.fact[oid]["net"] - self.fact[oid]["cogs"] if oid else None,
                        "is_final": today >= final_on, "final_on": final_on,
                    }
                )  # fmt: skip
        return out

    def campaign_lift_monthly(self) -> list[dict]:
        windows = {c.key: c for c in self.rules.campaigns}
        groups: dict = defaultdict(lambda: defaultdict(lambda: ZERO))
        for a in self.campaign_assignments():
            g = groups[(a["eligible_month"], a["campaign"])]
            side = "t" if a["assignment_group"] == holdout.TREATMENT else "c"
            g["n" + side] += 1
            g["x" + side] += 1 if a["is_converted"] else 0
            if side == "t" and a["is_converted"]:
                g["margin"] += a["conversion_margin"]
            g["contaminated"] += 1 if a["is_contaminated"] else 0
        today = local_date(self.as_of)
        out = []
        for (month, campaign), g in sorted(groups.items()):
            nt, nc, xt, xc = (int(g[k]) for k in ("nt", "nc", "xt", "xc"))
            num = xt * nc - xc * nt  # lift = num / (nt * nc)
            interval = wald_interval(xt, nt, xc, nc)
            margin_cents = quotient(num * g["margin"] * 100, nc * xt, Decimal(1))
            final_on = _add_month(month) + timedelta(days=windows[campaign].window_days + 1)
            out.append(
                {
                    "eligible_month": month, "campaign": campaign, "control_share": windows[campaign].control_share,
                    "eligible": nt + nc, "treatment_size": nt, "control_size": nc,
                    "treatment_conversions": xt, "control_conversions": xc,
                    "treatment_rate": ratio(xt, nt), "control_rate": ratio(xc, nc),
                    "absolute_lift": quotient(num, nt * nc, RATE), "relative_lift": quotient(num, nt * xc, RATE),
                    "lift_ci_low": interval[0] if interval else None, "lift_ci_high": interval[1] if interval else None,
                    "lift_excludes_zero": (interval[0] > 0 or interval[1] < 0) if interval else None,
                    "interval_method": "wald_unpooled_95",
                    "incremental_orders": quotient(num, nc, CENT), "treatment_margin": g["margin"],
                    "incremental_margin": None if margin_cents is None else margin_cents / 100,
                    "contaminated": int(g["contaminated"]), "contamination_rate": ratio(int(g["contaminated"]), nc),
                    "is_final": today >= final_on, "final_on": final_on,
                }
            )  # fmt: skip
        return out

    def refund_base(self) -> dict[str, Decimal]:
        """§6's base per month: money returned by refunds booked in it + COGS of replacement orders created in it."""
        base: dict[str, Decimal] = defaultdict(lambda: ZERO)
        for rf in self.refund_facts:
            base[rf["month"]] += rf["amount"]
        for f in self.fact.values():
            if f["replacement"] and not f["cancelled"]:
                base[f["month"]] += f["cogs"]
        return base

    def refund_share_sensitivity(self) -> list[dict]:
        base = self.refund_base()
        today = local_date(self.as_of)
        out = []
        for row in self.cs_pnl_wide():
            m = row["month"]
            # final as its P&L month: no month is closed in the simulation, so final on the scheduled close
            # (the 5th of the next month) while that day is ahead, unknown once it passed without a close
            close_on = _add_month(date(int(m[:4]), int(m[5:]), 1)) + timedelta(days=CLOSE_DAY_OF_MONTH - 1)
            before = row["net_contribution"] + row["refund_replacement_charge"]
            for share in SENSITIVITY_SHARES:
                charge = cent(share * base[m])
                out.append(
                    {
                        "month": date(int(m[:4]), int(m[5:]), 1), "refund_share": share,
                        "is_booked_share": share == self.share[m], "net_contribution_before_refund_charge": before,
                        "refund_replacement_base": base[m], "refund_replacement_charge": charge,
                        "net_contribution": before - charge, "break_even_share": quotient(before, base[m], RATE),
                        "is_final": False, "final_on": close_on if close_on > today else None,
                    }
                )  # fmt: skip
        return out

    def incrementality_marts(self) -> dict[str, list[dict]]:
        """§12's marts: estimates beside the booked P&L."""
        return {
            "campaign_assignments": self.campaign_assignments(),
            "campaign_lift_monthly": self.campaign_lift_monthly(),
            "refund_share_sensitivity": self.refund_share_sensitivity(),
        }

    def marts(self) -> dict[str, list[dict]]:
        return {
            "cs_pnl_monthly": self.cs_pnl_long(),
            "cs_pnl_monthly_wide": self.cs_pnl_wide(),
            "campaign_performance_monthly": self.campaign_performance(),
            "agent_performance_monthly": self.agent_performance(),
            "winback_cohorts": self.winback_cohorts(),
            "carrier_claims_monthly": self.claims_rows(),
            "fct_attributed_orders": self.fct_attributed_orders(),
            "fct_campaign_touches": self.fct_campaign_touches(),
        }


CLOSE_DAY_OF_MONTH = 5  # the month-end close's day (dbt var close_day_of_month)


def _add_month(d: date) -> date:
    y, m = (d.year + 1, 1) if d.month == 12 else (d.year, d.month + 1)
    return date(y, m, d.day)


def render(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal):
        return f"{value:.4f}" if value.as_tuple().exponent == -4 else f"{cent(value):.2f}"
    return str(value)


def write(marts: dict[str, list[dict]], out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for name, rows in marts.items():
        with open(out / f"{name}.csv", "w", newline="") as f:
            w = csv.writer(f, lineterminator="\n")
            if rows:
                w.writerow(rows[0].keys())
            for row in rows:
                w.writerow([render(v) for v in row.values()])
