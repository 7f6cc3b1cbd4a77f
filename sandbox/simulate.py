"""Month-by-month simulation of the company, written as canonical tables (see tables.py).

Deterministic: one `random.Random(seed)` consumed in a fixed order, integer time and
money, rows streamed to Parquet (memory stays flat at any scale).
"""

from __future__ import annotations

import csv
import json
import multiprocessing
import random
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

from sandbox import company as co
from sandbox.calendar import (
    DAY,
    HOUR,
    MINUTE,
    US,
    add_months,
    date_us,
    end_of_local_day_us,
    local_date,
    local_us,
    month_label,
    month_start_us,
)
from sandbox.holdout import CONTROL, group
from sandbox.tables import SCHEMAS, Sink, part_path

UPSELL_TAG = "cs-upsell-welcome"
WINBACK_TAG = "cs-winback"
# Tags as agents type them: other case, stray spaces (§3: a tag matches ignoring both).
TAG_VARIANTS = {UPSELL_TAG: ["CS-Upsell-Welcome", " cs-upsell-welcome "], WINBACK_TAG: ["CS-Winback", "cs-winback "]}
RENEWAL_TAGS = "Subscription, Subscription Recurring Order"
FIRST_ORDER_TAGS = "Subscription, Subscription First Order"
REPLACEMENT_TAG = "replacement"
AUTOMATION_RULE_ID = 9001
EPOCH_DATE = date(1970, 1, 1)


def days_since_epoch(d: date) -> int:
    return (d - EPOCH_DATE).days


def box_sku(y: int, m: int, plan: str) -> str:
    return f"BOX-{y:04d}{m:02d}-{plan}"


def half_up_div(num: int, den: int) -> int:
    """Round num/den half up (num >= 0)."""
    return (2 * num + den) // (2 * den)


@dataclass
class Person:
    email: str  # canonical: lower-case, trimmed
    first: str
    last: str
    currency: str
    shopify_id: int
    recharge_id: int
    sub_id: int
    plan: str
    signup: int
    gorgias_id: int = 0
    active: bool = True
    renew_from_month: int = 0  # month index of the first renewal allowed
    display_email: str = ""


@dataclass
class Counters:
    """Id sequences; shards interleave (shard s of k takes s+1, s+1+k, ...) so ids never collide."""

    shard: int = 0
    shards: int = 1
    values: dict[str, int] = field(default_factory=dict)

    def next(self, kind: str, base: int) -> int:
        n = self.values.get(kind, 0) + 1
        self.values[kind] = n
        return base + (n - 1) * self.shards + self.shard + 1


class Simulation:
    def __init__(self, scale: co.Scale, seed: int, out: Path, shard: int = 0):
        self.scale = scale
        self.seed = seed
        self.shard = shard
        self.rng = random.Random(f"{scale.name}:{seed}:{shard}")
        self.out = out
        self.sinks = {t: Sink(t, part_path(out, t, shard)) for t in SCHEMAS}
        self.ids = Counters(shard, scale.shards)
        self.people: list[Person] = []
        y, m = scale.first_month
        self.months = [add_months(y, m, k) for k in range(scale.months + 1)]  # + the future month
        self.clock = month_start_us(*self.months[-1])
        self.mid_date = date(*self.months[len(self.months) // 2], 1)
        self.agents: list[dict] = []
        self.bot_id = 0
        self.tag_names: list[str] = []

    # ------------------------------------------------------------------ helpers
    def uniform_ts(self, start: int, end: int) -> int:
        """A whole-second instant in [start, end) (start rounded up to a whole second)."""
        start = -(-start // US) * US
        return start + int(self.rng.random() * max(end - start, US)) // US * US

    def randint(self, lo: int, hi: int) -> int:
        """Like random.randint (both ends inclusive), at a third of the cost."""
        return lo + int(self.rng.random() * (hi - lo + 1))

    def emit(self, table: str, row: tuple) -> None:
        self.sinks[table].add(row)

    def held_out(self, campaign: str, p: Person) -> bool:
        """§12: in the campaign's control group and not contacted anyway. No draw for a campaign without one."""
        declared = co.CONTROL_GROUPS.get(campaign)
        if declared is None or group(campaign, str(p.shopify_id), declared[1], Decimal(declared[0])) != CONTROL:
            return False
        return self.rng.random() >= co.P_CONTROL_CONTACTED

    def email_variant(self, email: str) -> str:
        if self.rng.random() < co.P_EMAIL_MIXED_CASE:
            local, _, domain = email.partition("@")
            return local.title() + "@" + domain.capitalize()
        return email

    # ------------------------------------------------------------------ run
    def share(self, n: int) -> int:
        """This shard's part of a population count."""
        k = self.scale.shards
        return n // k + (1 if self.shard < n % k else 0)

    def run(self) -> dict[str, int]:
        self.setup_helpdesk()
        start = month_start_us(*self.months[0])
        for _ in range(self.share(self.scale.initial_active)):
            self.new_person(start - self.randint(20, 700) * DAY, first_order=False)
        for k, (y, m) in enumerate(self.months):
            self.simulate_month(k, y, m)
        for sink in self.sinks.values():
            sink.close()
        if self.shard == 0:
            self.write_finance_inputs()
        return {t: s.count for t, s in self.sinks.items()}

    def setup_helpdesk(self) -> None:
        """Agents, admin, bot and tags: the same in every shard (own RNG), written by shard 0 only."""
        rng = random.Random(f"{self.scale.name}:{self.seed}:helpdesk")
        ids = Counters()
        created = month_start_us(*self.months[0]) - 400 * DAY
        n = self.scale.agents
        names = (
            rng.sample(co.FIRST_NAMES, n)
            if n <= len(co.FIRST_NAMES)
            else [f"{co.FIRST_NAMES[i % len(co.FIRST_NAMES)]}{i}" for i in range(n)]
        )
        emit = self.emit if self.shard == 0 else (lambda table, row: None)
        for i, first in enumerate(names):
            uid = ids.next("user", 1000)
            email = f"{first.lower()}@{co.AGENT_DOMAIN}"
            code = f"{first.upper()}{10 + i % 10}"
            # The last agent leaves halfway through: inactive, and their code stops being valid.
            leaves = i == len(names) - 1 and len(names) > 1
            self.agents.append({"id": uid, "email": email, "code": code, "leaves": leaves})
            emit(
                "gorgias_users",
                (uid, email, f"{first} {rng.choice(co.LAST_NAMES)}", "agent", not leaves, created, created),
            )
        admin = ids.next("user", 1000)
        emit("gorgias_users", (admin, f"admin@{co.AGENT_DOMAIN}", "Store Admin", "admin", True, created, created))
        self.bot_id = ids.next("user", 1000)
        emit("gorgias_users", (self.bot_id, f"bot@{co.AGENT_DOMAIN}", "Gorgias Bot", "bot", True, created, created))
        self.tag_names = [UPSELL_TAG, WINBACK_TAG, *co.SUPPORT_TAGS, "urgent", "CS-Upsell-Welcome", "CS-Winback"]
        for name in self.tag_names:
            emit("gorgias_tags", (ids.next("tag", 100), name, created, created))

    def active_agents(self, ts: int) -> list[dict]:
        mid = date_us(self.mid_date)
        return [a for a in self.agents if not (a["leaves"] and ts >= mid)] or self.agents

    # ------------------------------------------------------------------ people
    def new_person(self, signup: int, first_order: bool = True) -> Person:
        rng = self.rng
        n = (len(self.people)) * self.scale.shards + self.shard + 1
        first, last = rng.choice(co.FIRST_NAMES), rng.choice(co.LAST_NAMES)
        email = f"{first.lower()}.{last.lower()}{n}@{rng.choice(co.EMAIL_DOMAINS)}"
        currency = "CAD" if rng.random() < co.CAD_SHARE else "USD"
        plan = pick_plan(rng.random())
        p = Person(
            email,
            first,
            last,
            currency,
            self.ids.next("shop_customer", 7_000_000_000_000),
            self.ids.next("rc_customer", 90_000_000),
            self.ids.next("subscription", 300_000_000),
            plan,
            signup,
        )
        p.display_email = self.email_variant(email)
        self.people.append(p)
        self.emit("shopify_customers", (p.shopify_id, email, first, last, "enabled", signup, signup))
        self.emit("recharge_customers", (p.recharge_id, email, first, last, p.shopify_id, signup, signup))
        sy, sm = local_date(signup).year, local_date(signup).month
        k = self.month_index(signup)
        p.renew_from_month = k + 1
        next_charge = date(*add_months(sy, sm, 1), co.RENEWAL_DAY)
        self.emit_subscription(p, signup, "active", next_charge=next_charge)
        if first_order:
            self.first_order(p, signup, sy, sm)
        return p

    def month_index(self, ts: int) -> int:
        d = local_date(ts)
        y0, m0 = self.months[0]
        return (d.year - y0) * 12 + (d.month - m0)

    def emit_subscription(
        self,
        p: Person,
        ts: int,
        status: str,
        next_charge: date | None = None,
        cancelled_at: int | None = None,
        reason: str | None = None,
        max_retries: bool = False,
    ) -> None:
        price = co.PLANS[p.plan]["price"][p.currency]
        self.emit(
            "recharge_subscriptions",
            (
                p.sub_id,
                p.recharge_id,
                status,
                price,
                p.currency,
                f"BOX-SUB-{p.plan}",
                p.signup,
                cancelled_at,
                reason,
                days_since_epoch(next_charge) if next_charge else None,
                max_retries,
                ts,
            ),
        )

    def gorgias_customer(self, p: Person, ts: int) -> int:
        if not p.gorgias_id:
            p.gorgias_id = self.ids.next("gorgias_customer", 50_000_000)
            rng = self.rng
            external = str(p.shopify_id) if rng.random() < 0.3 else None
            linked = p.shopify_id if rng.random() < 0.8 else None
            self.emit(
                "gorgias_customers", (p.gorgias_id, p.display_email, f"{p.first} {p.last}", external, linked, ts, ts)
            )
        return p.gorgias_id

    # ------------------------------------------------------------------ months
    def simulate_month(self, k: int, y: int, m: int) -> None:
        rng = self.rng
        start, end = month_start_us(y, m), month_start_us(*add_months(y, m, 1))
        renewal_at = local_us(y, m, co.RENEWAL_DAY)
        eligible = [p for p in self.people if p.active and p.renew_from_month <= k]
        for p in eligible:
            cancel_at = self.uniform_ts(start, end) if rng.random() < co.P_CANCEL_PER_MONTH else None
            if cancel_at is not None and cancel_at < renewal_at:
                self.cancel(p, cancel_at)
                continue
            paid_at = self.renewal(p, y, m)
            if paid_at is not None and cancel_at is not None:
                self.cancel(p, max(cancel_at, paid_at + HOUR))
        base = [p for p in self.people if p.active]
        for _ in range(self.share(self.scale.new_per_month)):
            p = self.new_person(self.uniform_ts(start, end))
            self.upsell_campaign(p, y, m)
        self.one_off_orders(base, start, end, y, m)
        self.support_tickets(base, start, end)

    def cancel(self, p: Person, ts: int) -> None:
        p.active = False
        self.emit_subscription(p, ts, "cancelled", cancelled_at=ts, reason=self.rng.choice(co.CANCEL_REASONS))

    # ------------------------------------------------------------------ renewals and dunning
    def renewal(self, p: Person, y: int, m: int) -> int | None:
        """One renewal charge on the renewal day; returns when it was paid, None for the win-back cohort."""
        rng = self.rng
        sched = date(y, m, co.RENEWAL_DAY)
        charge_id = self.ids.next("charge", 700_000_000)
        price = co.PLANS[p.plan]["price"][p.currency]
        sku = box_sku(y, m, p.plan)
        created = date_us(sched) - 7 * DAY + self.randint(0, 20 * 3600) * US
        charge = [
            charge_id,
            p.recharge_id,
            p.shopify_id,
            p.email,
            p.sub_id,
            "recurring",
            "queued",
            days_since_epoch(sched),
            None,
            0,
            None,
            None,
            None,
            sku,
            1,
            price,
            price,
            half_up_div(price * co.TAX_BP, 10_000),
            0,
            p.currency,
            created,
            created,
        ]
        charge[18] = charge[16] + charge[17]
        self.emit("recharge_charges", tuple(charge))
        first_try = date_us(sched) + (3 + self.randint(0, 5)) * HOUR + self.randint(0, 3599) * US
        if rng.random() >= co.P_RENEWAL_FAILS:
            self.charge_paid(p, charge, first_try, attempts=1)
            return first_try
        dunning_end = end_of_local_day_us(sched + timedelta(days=co.DUNNING_DAYS))
        attempt_at = first_try
        for attempt in range(1, co.DUNNING_DAYS // co.RETRY_EVERY_DAYS + 2):
            if attempt > 1 and rng.random() < co.P_RETRY_SUCCEEDS:
                self.charge_paid(p, charge, attempt_at, attempts=attempt)
                return attempt_at
            retry = attempt_at + co.RETRY_EVERY_DAYS * DAY
            final = retry > dunning_end
            charge[6], charge[8], charge[9] = "error", None, attempt
            charge[10] = None if final else retry
            charge[11] = (
                "CLOSED_MAX_RETRIES_REACHED"
                if final
                else rng.choice(["CARD_DECLINED", "INSUFFICIENT_FUNDS", "EXPIRED_CARD"])
            )
            charge[21] = attempt_at
            self.emit("recharge_charges", tuple(charge))
            if final:
                break
            attempt_at = retry
        # Dunning exhausted: the subscription is cancelled by the system, and CS tries to win it back.
        p.active = False
        self.emit_subscription(
            p,
            attempt_at + MINUTE,
            "cancelled",
            cancelled_at=attempt_at + MINUTE,
            reason=co.SYSTEM_CANCEL_REASON,
            max_retries=True,
        )
        self.winback(p, charge, dunning_end)
        return None

    def charge_paid(self, p: Person, charge: list, ts: int, attempts: int) -> None:
        order_id, number = self.order(
            p,
            ts + self.randint(2, 40) * US,
            [(charge[13], co.PLANS[p.plan]["title"], 1, charge[15])],
            RENEWAL_TAGS,
            source="subscription_contract",
        )
        charge[6], charge[8], charge[9], charge[10], charge[11] = "success", ts, attempts, None, None
        charge[12], charge[21] = order_id, ts
        self.emit("recharge_charges", tuple(charge))
        rc_order = self.ids.next("rc_order", 500_000_000)
        self.emit(
            "recharge_orders",
            (
                rc_order,
                charge[0],
                p.recharge_id,
                p.shopify_id,
                p.email,
                "recurring",
                "success",
                order_id,
                number,
                date_us(date.fromordinal(EPOCH_DATE.toordinal() + charge[7])),
                ts,
                charge[18],
                p.currency,
                ts,
                ts,
            ),
        )
        self.emit_subscription(p, ts, "active", next_charge=next_renewal_date(ts))

    def winback(self, p: Person, charge: list, dunning_end: int) -> None:
        rng = self.rng
        pay_at = None
        if self.held_out("winback", p):  # never emailed: some fix their card anyway
            if rng.random() < co.P_WINBACK_BASELINE:
                pay_at = self.uniform_ts(dunning_end + HOUR, dunning_end + 13 * DAY)
        elif rng.random() < co.P_WINBACK_TOUCHED:
            touch = self.uniform_ts(dunning_end + 9 * HOUR, dunning_end + 9 * HOUR + 60 * HOUR)
            agent = rng.choice(self.active_agents(touch))
            replies = []
            u = rng.random()
            if u < co.P_WINBACK_SAVED:
                pay_at = self.uniform_ts(touch + HOUR, touch + 14 * DAY - HOUR)
            elif u < co.P_WINBACK_SAVED + co.P_WINBACK_LATE:
                pay_at = self.uniform_ts(touch + 14 * DAY + HOUR, touch + 20 * DAY)
            elif u < co.P_WINBACK_SAVED + co.P_WINBACK_LATE + co.P_WINBACK_BEFORE_TOUCH:
                pay_at = self.uniform_ts(dunning_end + MINUTE, touch - MINUTE)
            if rng.random() < co.P_WINBACK_REPLY:
                replies.append(self.uniform_ts(touch + 10 * MINUTE, touch + 2 * DAY))
            self.campaign_ticket(p, WINBACK_TAG, "We miss you - let's fix your payment", agent, touch, replies)
        elif rng.random() < 0.1:
            pay_at = self.uniform_ts(dunning_end + DAY, dunning_end + 10 * DAY)
        if pay_at is None:
            return
        charge[9] += 1
        self.charge_paid(p, charge, pay_at, attempts=charge[9])
        p.active = True
        p.renew_from_month = self.month_index(date_us(next_renewal_date(pay_at)))

    # ------------------------------------------------------------------ orders
    def first_order(self, p: Person, ts: int, y: int, m: int) -> None:
        by, bm = add_months(y, m, -self.randint(1, 3))  # new subscribers pick a past box
        price = co.PLANS[p.plan]["price"][p.currency]
        charge_id = self.ids.next("charge", 700_000_000)
        order_id, number = self.order(
            p,
            ts + 5 * US,
            [(box_sku(by, bm, p.plan), co.PLANS[p.plan]["title"], 1, price)],
            FIRST_ORDER_TAGS,
            source="web",
        )
        tax = half_up_div(price * co.TAX_BP, 10_000)
        self.emit(
            "recharge_charges",
            (
                charge_id,
                p.recharge_id,
                p.shopify_id,
                p.email,
                p.sub_id,
                "checkout",
                "success",
                days_since_epoch(local_date(ts)),
                ts,
                1,
                None,
                None,
                order_id,
                box_sku(by, bm, p.plan),
                1,
                price,
                price,
                tax,
                price + tax,
                p.currency,
                ts,
                ts,
            ),
        )
        self.emit(
            "recharge_orders",
            (
                self.ids.next("rc_order", 500_000_000),
                charge_id,
                p.recharge_id,
                p.shopify_id,
                p.email,
                "checkout",
                "success",
                order_id,
                number,
                ts,
                ts,
                price + tax,
                p.currency,
                ts,
                ts,
            ),
        )

    def order(
        self,
        p: Person,
        ts: int,
        items: list[tuple[str, str, int, int]],
        tags: str,
        source: str,
        code: str | None = None,
        percent: int = 0,
        shipping: int = 0,
        test: bool = False,
        cancellable: bool = False,
        replacement_of: bool = False,
    ) -> tuple[int, int]:
        """A Shopify order with its line items, discounts, refunds, shipments and claims."""
        rng = self.rng
        order_id = self.ids.next("order", 5_006_149_000_000)
        number = self.ids.next("order_number", 1000)
        line_total = discount = 0
        lines = []
        for sku, title, qty, unit in items:
            gross = qty * unit
            alloc = half_up_div(gross * percent, 100) if percent else 0
            line_id = self.ids.next("line_item", 14_000_000_000_000)
            lines.append((line_id, sku, qty, unit, alloc))
            self.emit("shopify_line_items", (line_id, order_id, sku, title, qty, unit, alloc))
            line_total += gross
            discount += alloc
        if code:
            self.emit("shopify_discounts", (order_id, code, discount, percent))
        subtotal = line_total - discount
        tax = half_up_div(subtotal * co.TAX_BP, 10_000)
        total = subtotal + tax + shipping
        email = p.display_email if rng.random() < 0.5 else p.email
        if rng.random() < 0.03:
            email = f" {email} "
        row = [
            order_id,
            number,
            email,
            p.shopify_id,
            ts,
            None,
            None,
            "paid",
            p.currency,
            line_total,
            discount,
            subtotal,
            tax,
            shipping,
            total,
            tags,
            source,
            test,
            ts,
        ]
        self.emit("shopify_orders", tuple(row))
        if cancellable and rng.random() < co.P_ORDER_CANCELLED:
            at = self.uniform_ts(ts + 10 * MINUTE, ts + 2 * DAY)
            row[5], row[6], row[7], row[18] = at, rng.choice(["customer", "inventory", "other"]), "voided", at
            self.emit("shopify_orders", tuple(row))
            return order_id, number
        if not test and total > 0 and rng.random() < co.P_REFUND:
            self.refund(row, lines)
        self.ship(order_id, number, ts, total, test)
        if not test and not replacement_of and rng.random() < co.P_REPLACEMENT:
            at = self.uniform_ts(ts + 5 * DAY, ts + 25 * DAY)
            sku, title = lines[0][1], items[0][1]
            self.order(p, at, [(sku, title, 1, 0)], REPLACEMENT_TAG, source="shopify_draft_order", replacement_of=True)
        return order_id, number

    def refund(self, row: list, lines: list) -> None:
        """A refund with what real Shopify serves: refunded line items (pre-tax `subtotal` and their tax),
        refunded shipping and `refund_discrepancy` adjustments (order_adjustments), and the transactions that
        returned the money. A full refund returns the whole order (goods, tax, shipping); a partial one returns
        one unit of the first line with its tax, or a goodwill amount tied to no item (a discrepancy), sometimes
        with a small discrepancy on top. So revenue reversal (goods + discrepancy, §2) and money returned (the
        successful transactions) differ on most refunds. The refund's shape is drawn from its own generator
        (seeded by its id), so the company's main random stream, and every other record, stay as they were."""
        rng = self.rng
        order_id, created, currency = row[0], row[4], row[8]
        at = self.uniform_ts(created + DAY, created + 45 * DAY)
        full = rng.random() < co.P_REFUND_FULL
        percent = 0 if full else self.randint(20, 60)
        refund_id = self.ids.next("refund", 920_000_000_000)
        shape = random.Random(refund_id)
        refunded = []  # (line_item_id, quantity, subtotal, tax)
        shipping = discrepancy = 0
        if full:
            tax_left = row[12]
            for i, (line_id, _, qty, unit, alloc) in enumerate(lines):
                sub = qty * unit - alloc
                tax = tax_left if i == len(lines) - 1 else min(tax_left, half_up_div(sub * co.TAX_BP, 10_000))
                tax_left -= tax
                refunded.append((line_id, qty, sub, tax))
            shipping = row[13]
        elif shape.random() >= co.P_REFUND_GOODWILL and lines[0][3] > 0:
            line_id, _, qty, unit, alloc = lines[0]
            sub = unit - half_up_div(alloc, qty)
            refunded.append((line_id, 1, sub, half_up_div(sub * co.TAX_BP, 10_000)))
            if shape.random() < co.P_REFUND_DISCREPANCY:
                discrepancy = (1 + int(shape.random() * 5)) * 100
        else:
            discrepancy = max(100, half_up_div(row[11] * percent, 100))
        amount = sum(sub + tax for _, _, sub, tax in refunded) + shipping + discrepancy
        self.emit("shopify_refunds", (refund_id, order_id, at, "Refund issued by support", shipping, discrepancy))
        for line_id, qty, sub, tax in refunded:
            self.emit("shopify_refund_line_items", (refund_id, order_id, line_id, qty, sub, tax))
        pending_only = rng.random() < co.P_REFUND_PENDING_ONLY
        if rng.random() < co.P_REFUND_FAILED_TXN:
            self.emit(
                "shopify_refund_transactions",
                (
                    self.ids.next("txn", 6_100_000_000_000),
                    refund_id,
                    order_id,
                    "refund",
                    "failure",
                    amount,
                    currency,
                    at,
                ),
            )
        self.emit(
            "shopify_refund_transactions",
            (
                self.ids.next("txn", 6_100_000_000_000),
                refund_id,
                order_id,
                "refund",
                "pending" if pending_only else "success",
                amount,
                currency,
                at + 2 * US,
            ),
        )
        row[7] = "refunded" if full and not pending_only else "partially_refunded"
        row[18] = at
        self.emit("shopify_orders", tuple(row))

    def ship(self, order_id: int, number: int, ts: int, order_total: int, test: bool) -> None:
        rng = self.rng
        n_labels = 2 if rng.random() < co.P_SPLIT_SHIPMENT else 1
        at = ts
        for _ in range(n_labels):
            at = self.uniform_ts(at + 2 * HOUR, at + 3 * DAY)
            voided = self.label(order_id, number, at, order_total, "test" if test else "production", voidable=True)
            if voided:
                self.label(order_id, number, voided + HOUR, order_total, "production", voidable=False)
        if rng.random() < co.P_TEST_SHIPMENT:
            self.label(order_id, number, at + MINUTE, order_total, "test", voidable=False)

    def label(self, order_id: int, number: int, at: int, order_total: int, mode: str, voidable: bool) -> int:
        """Buy one label; returns the void time when the label gets voided, else 0."""
        rng = self.rng
        n = self.ids.next("shipment", 0)
        sid = f"shp_{(n * 2654435761 + 97) % 16**32:032x}"
        u = rng.random()
        reference = (
            f"#{number}" if u < 0.4 else str(number) if u < 0.7 else str(order_id) if u < 0.9 else f" #{number} "
        )
        carrier, service, lo, hi = rng.choice(co.CARRIERS)
        rate = self.randint(lo, hi)
        tracking = f"9400{n:018d}"
        row = [sid, mode, reference, order_id, tracking, carrier, service, rate, "delivered", None, False, at, at]
        self.emit("easypost_shipments", tuple(row))
        if voidable and rng.random() < co.P_LABEL_VOIDED:
            void_at = self.uniform_ts(at + HOUR, at + 2 * DAY)
            row[8], row[9], row[12] = "cancelled", "refunded", void_at
            self.emit("easypost_shipments", tuple(row))
            return void_at
        if mode == "production" and rng.random() < co.P_CLAIM:
            self.claim(sid, tracking, at, min(order_total, 15_000) or 2_000)
        return 0

    def claim(self, shipment_id: str, tracking: str, shipped: int, requested: int) -> None:
        rng = self.rng
        cid = f"clm_{(self.ids.next('claim', 0) * 40503 + 11) % 16**32:032x}"
        ctype = rng.choice(["loss", "loss", "damage", "damage", "theft"])
        created = self.uniform_ts(shipped + 7 * DAY, shipped + 20 * DAY)
        row = [
            cid,
            ctype,
            "submitted",
            "Claim submitted",
            requested,
            None,
            requested,
            shipment_id,
            tracking,
            "production",
            created,
            created,
            created,
        ]
        self.emit("easypost_claims", tuple(row))
        review = self.uniform_ts(created + DAY, created + 5 * DAY)
        row[2], row[3], row[11], row[12] = "in_review", "Claim under review by carrier", review, review
        self.emit("easypost_claims", tuple(row))
        status = claim_outcome(rng.random())
        if status is None:
            return  # stays pending
        done = self.uniform_ts(review + 4 * DAY, review + 30 * DAY)
        row[2], row[11], row[12] = status, done, done
        if status == "approved":
            row[3], row[5] = "Claim approved", requested
        elif status == "approved_partial":
            row[3], row[5] = "Partially approved: depreciation", half_up_div(requested * self.randint(30, 80), 100)
        elif status == "rejected":
            row[3] = rng.choice(["Insufficient documentation", "Package delivered per tracking"])
        else:
            row[3] = "Cancelled by requester"
        self.emit("easypost_claims", tuple(row))

    def addon_items(self, currency: str, n: int) -> list[tuple[str, str, int, int]]:
        skus = self.rng.sample(sorted(co.ADDONS), n)
        return [(s, co.ADDONS[s]["title"], 1, co.ADDONS[s]["price"][currency]) for s in skus]

    def coupon_code(self, ts: int) -> str:
        agent = self.rng.choice(self.agents)  # includes the one who left: some codes are used after expiry
        code = agent["code"]
        u = self.rng.random()
        return code.lower() if u < 0.2 else code.title() if u < 0.3 else code

    def one_off_orders(self, base: list[Person], start: int, end: int, y: int, m: int) -> None:
        rng = self.rng
        for _ in range(int(len(base) * co.P_ONE_OFF_PER_MONTH)):
            p = rng.choice(base)
            ts = self.uniform_ts(start, end)
            items = self.addon_items(p.currency, self.randint(1, 2))
            code = self.coupon_code(ts) if rng.random() < co.P_ONE_OFF_WITH_AGENT_CODE else None
            self.order(
                p,
                ts,
                items,
                "",
                source="web",
                code=code,
                percent=15 if code else 0,
                shipping=co.ONE_OFF_SHIPPING[p.currency],
                cancellable=True,
            )
        for _ in range(max(1, int(len(base) * co.P_TEST_ORDER_PER_MONTH))):
            p = rng.choice(base)
            self.order(p, self.uniform_ts(start, end), self.addon_items(p.currency, 1), "", source="web", test=True)

    # ------------------------------------------------------------------ helpdesk
    def upsell_campaign(self, p: Person, y: int, m: int) -> None:
        rng = self.rng
        if self.held_out("upsell", p):  # never emailed: a few buy the upcoming box anyway
            if rng.random() < co.P_UPSELL_BASELINE:
                self.early_box(p, y, m, self.uniform_ts(p.signup + HOUR, p.signup + 6 * DAY))
            return
        if rng.random() >= co.P_UPSELL_TOUCHED:
            return
        touch = self.uniform_ts(p.signup + 2 * HOUR, p.signup + 3 * DAY)
        window_end = touch + 7 * DAY
        replies: list[int] = []
        order_at = None
        if rng.random() < co.P_UPSELL_ORDER_BEFORE_TOUCH:
            order_at = self.uniform_ts(p.signup + HOUR, touch - 10 * MINUTE)
        elif rng.random() < co.P_UPSELL_REPLY:
            reply = self.uniform_ts(touch + 10 * MINUTE, touch + 3 * DAY)
            replies.append(reply)
            u = rng.random()
            if u < co.P_UPSELL_ORDER_AFTER_REPLY:
                order_at = self.uniform_ts(reply + 5 * MINUTE, window_end - 30 * MINUTE)
            elif u < co.P_UPSELL_ORDER_AFTER_REPLY + co.P_UPSELL_ORDER_LATE:
                order_at = self.uniform_ts(window_end + HOUR, window_end + 5 * DAY)
        elif rng.random() < co.P_UPSELL_ORDER_NO_REPLY:
            order_at = self.uniform_ts(touch + HOUR, window_end - HOUR)
            if rng.random() < co.P_UPSELL_REPLY_AFTER_ORDER:
                replies.append(self.uniform_ts(order_at + HOUR, order_at + DAY))
        agent = rng.choice(self.active_agents(touch))
        self.campaign_ticket(p, UPSELL_TAG, "Welcome! Want your next box early?", agent, touch, replies)
        if rng.random() < co.P_UPSELL_TOUCHED_TWICE:
            second = self.uniform_ts(touch + 2 * DAY, touch + 5 * DAY)
            self.campaign_ticket(
                p, UPSELL_TAG, "Following up on your welcome offer", rng.choice(self.active_agents(second)), second, []
            )
        if order_at is not None:
            self.early_box(p, y, m, order_at)

    def early_box(self, p: Person, y: int, m: int, order_at: int) -> None:
        """The upcoming box ordered early (with add-ons, maybe a code), as the welcome upsell offers it."""
        rng = self.rng
        ny, nm = add_months(y, m, 1)
        items = [(box_sku(ny, nm, p.plan), co.PLANS[p.plan]["title"], 1, co.PLANS[p.plan]["price"][p.currency])]
        if rng.random() < co.P_UPSELL_ADDON:
            items += self.addon_items(p.currency, 2 if rng.random() < co.P_UPSELL_SECOND_ADDON else 1)
        u = rng.random()
        code, percent = (
            ("WELCOME10", 10)
            if u < co.P_WELCOME_CODE
            else (self.coupon_code(order_at), 15)
            if u < co.P_WELCOME_CODE + 0.08
            else (None, 0)
        )
        self.order(  # the upcoming box ships early, on its own: the customer pays its shipping
            p,
            order_at,
            items,
            "",
            source="shopify_draft_order",
            code=code,
            percent=percent,
            shipping=co.ONE_OFF_SHIPPING[p.currency],
            cancellable=True,
        )

    def campaign_ticket(self, p: Person, tag: str, subject: str, agent: dict, touch: int, replies: list[int]) -> None:
        """An outbound campaign ticket: its agent message is sent at `touch` (the touch time)."""
        rng = self.rng
        messages = []  # (from_agent, public, channel, via, rule_id, sender_id, sender_email, created, sent, failed)
        if rng.random() < co.P_AUTOMATION_FIRST:
            at = touch - 10 * MINUTE
            messages.append(
                (
                    True,
                    True,
                    "email",
                    "rule",
                    AUTOMATION_RULE_ID,
                    self.bot_id,
                    f"bot@{co.AGENT_DOMAIN}",
                    at,
                    at + US,
                    None,
                )
            )
        if rng.random() < co.P_FIRST_MESSAGE_FAILED:
            at = touch - self.randint(20, 180) * MINUTE
            messages.append(
                (True, True, "email", "helpdesk", None, agent["id"], agent["email"], at, None, at + 30 * 1_000_000)
            )
        messages.append(
            (True, True, "email", "helpdesk", None, agent["id"], agent["email"], touch - 2 * US, touch, None)
        )
        if rng.random() < co.P_INTERNAL_NOTE:
            at = touch + self.randint(1, 60) * MINUTE
            messages.append((True, False, "internal-note", "helpdesk", None, agent["id"], agent["email"], at, at, None))
        for r in replies:
            messages.append((False, True, "email", "email", None, 0, p.display_email, r, r, None))
        trashed = touch + self.randint(1, 3) * DAY if rng.random() < co.P_TICKET_TRASHED else None
        variant = random.Random(touch)  # not the main stream: every other record stays as it was
        if variant.random() < co.P_TAG_VARIANT:
            tag = variant.choice(TAG_VARIANTS[tag])
        start = min(m[7] for m in messages)
        self.ticket(p, start, "email", "helpdesk", True, tag, subject, agent, messages, trashed=trashed)

    def ticket(
        self,
        p: Person | None,
        created: int,
        channel: str,
        via: str,
        from_agent: bool,
        tags: str,
        subject: str,
        agent: dict | None,
        messages: list,
        spam: bool = False,
        trashed: int | None = None,
        customer_id: int | None = None,
    ) -> int:
        cust = customer_id if customer_id is not None else self.gorgias_customer(p, created)
        tid = self.ids.next("ticket", 20_000_000)
        messages.sort(key=lambda mm: mm[7])
        assignee = agent["id"] if agent else None
        last_version = -1
        for frm, public, mchannel, mvia, rule, sender, sender_email, mc, sent, failed in messages:
            mid = self.ids.next("message", 400_000_000)
            if frm and sender == 0:
                sender = assignee or 0
            cust_sender = cust if not frm else sender
            receiver = (p.display_email if p else "") if frm else (agent["email"] if agent else "")
            body = "Hi! " + subject if frm else "Yes please, go ahead!"
            head = (mid, tid, frm, public, mchannel, mvia, rule, cust_sender, sender_email, receiver, body, mc)
            if failed is not None:  # delivery failure arrives after the message was created
                self.emit("gorgias_messages", (*head, None, None, mc))
            self.emit("gorgias_messages", (*head, sent, failed, failed if failed else mc))
            if mc > last_version:  # one ticket version per distinct update time
                last_version = mc
                self.emit(
                    "gorgias_tickets",
                    (
                        tid,
                        cust,
                        channel,
                        via,
                        from_agent,
                        "open",
                        spam,
                        None,
                        tags,
                        subject,
                        assignee,
                        created,
                        None,
                        mc,
                    ),
                )
        last = max(mm[7] for mm in messages)
        closed = last + self.randint(1, 48) * HOUR
        row = [
            tid,
            cust,
            channel,
            via,
            from_agent,
            "closed",
            spam,
            None,
            tags,
            subject,
            assignee,
            created,
            closed,
            closed,
        ]
        self.emit("gorgias_tickets", tuple(row))
        if trashed is not None:
            row[7], row[13] = max(trashed, closed + MINUTE), max(trashed, closed + MINUTE)
            self.emit("gorgias_tickets", tuple(row))
        return tid

    def support_tickets(self, base: list[Person], start: int, end: int) -> None:
        rng = self.rng
        for _ in range(int(len(base) * co.P_SUPPORT_TICKET_PER_MONTH)):
            p = rng.choice(base)
            at = self.uniform_ts(start, end)
            agent = rng.choice(self.active_agents(at))
            answer = at + self.randint(1, 20) * HOUR
            messages = [
                (False, True, "email", "email", None, 0, p.display_email, at, at, None),
                (True, True, "email", "helpdesk", None, agent["id"], agent["email"], answer, answer + US, None),
            ]
            if rng.random() < co.P_REPLY_TO_UNRELATED:
                follow = answer + self.randint(1, 30) * HOUR
                messages.append((False, True, "email", "email", None, 0, p.display_email, follow, follow, None))
            if rng.random() < co.P_INTERNAL_NOTE:
                messages.append(
                    (
                        True,
                        False,
                        "internal-note",
                        "helpdesk",
                        None,
                        agent["id"],
                        agent["email"],
                        answer - MINUTE,
                        answer - MINUTE,
                        None,
                    )
                )
            tid = self.ticket(
                p, at, "email", "email", False, rng.choice(co.SUPPORT_TAGS), "Question about my box", agent, messages
            )
            if rng.random() < co.P_SURVEY:
                sent = answer + 2 * DAY
                sid = self.ids.next("survey", 3_000_000)
                self.emit("gorgias_surveys", (sid, tid, p.gorgias_id, None, sent, None, sent, sent))
                if rng.random() < 0.7:
                    scored = sent + self.randint(1, 48) * HOUR
                    self.emit(
                        "gorgias_surveys", (sid, tid, p.gorgias_id, self.randint(1, 5), sent, scored, sent, scored)
                    )
        for _ in range(max(1, int(len(base) * co.P_SPAM_PER_MONTH))):
            at = self.uniform_ts(start, end)
            cid = self.ids.next("gorgias_customer", 50_000_000)
            email = f"promo{cid}@spam.example"
            self.emit("gorgias_customers", (cid, email, "Promo", None, None, at, at))
            messages = [(False, True, "email", "email", None, 0, email, at, at, None)]
            self.ticket(None, at, "email", "email", False, "", "You won!!!", None, messages, spam=True, customer_id=cid)

    # ------------------------------------------------------------------ finance inputs
    def write_finance_inputs(self) -> None:
        folder = self.out / "finance"
        folder.mkdir(exist_ok=True)
        months = [month_label(y, m) for y, m in self.months]
        rng = random.Random(f"finance:{self.scale.name}:{self.seed}")
        n = self.scale.new_per_month
        with open(folder / "cs_costs.csv", "w", newline="") as f:
            w = csv.writer(f, lineterminator="\n")
            w.writerow(["month", "cost_type", "amount", "currency", "note"])
            for label in months:
                w.writerow([label, "staffing", cents(n * co.STAFF_COST_PER_SIGNUP), "USD", "agent salaries"])
                w.writerow(
                    [
                        label,
                        "platform",
                        cents(co.PLATFORM_BASE + n * co.PLATFORM_PER_SIGNUP),
                        "USD",
                        "Gorgias subscription",
                    ]
                )
                w.writerow([label, "other", cents(n * rng.randint(*co.QA_TOOLING_PER_SIGNUP)), "USD", "QA tooling"])
                w.writerow([label, "other", cents(n * co.TRAINING_PER_SIGNUP_CAD), "CAD", "Training (Toronto vendor)"])
        first = date(*self.months[0], 1)
        with open(folder / "product_costs.csv", "w", newline="") as f:
            w = csv.writer(f, lineterminator="\n")
            w.writerow(["sku", "valid_from", "unit_cost", "currency"])
            for k in range(-4, len(self.months) + 2):
                by, bm = add_months(*self.months[0], k)
                valid = date(*add_months(by, bm, -4), 1)
                for plan, spec in co.PLANS.items():
                    w.writerow([box_sku(by, bm, plan), valid.isoformat(), cents(spec["cost"]), "USD"])
                    if date(by, bm, 1) >= self.mid_date - timedelta(days=120):
                        w.writerow(
                            [
                                box_sku(by, bm, plan),
                                max(self.mid_date, valid + timedelta(days=1)).isoformat(),
                                cents(half_up_div(spec["cost"] * co.COST_RISE_PERMILLE, 1000)),
                                "USD",
                            ]
                        )
            for sku, spec in co.ADDONS.items():
                w.writerow([sku, (first - timedelta(days=400)).isoformat(), cents(spec["cost"]), "USD"])
                w.writerow(
                    [
                        sku,
                        self.mid_date.isoformat(),
                        cents(half_up_div(spec["cost"] * co.COST_RISE_PERMILLE, 1000)),
                        "USD",
                    ]
                )
        with open(folder / "agent_coupons.csv", "w", newline="") as f:
            w = csv.writer(f, lineterminator="\n")
            w.writerow(["code", "agent_email", "valid_from", "valid_to"])
            for a in self.agents:
                valid_to = (self.mid_date - timedelta(days=1)).isoformat() if a["leaves"] else ""
                w.writerow([a["code"], a["email"], (first - timedelta(days=90)).isoformat(), valid_to])
        with open(folder / "fx_rates.csv", "w", newline="") as f:
            w = csv.writer(f, lineterminator="\n")
            w.writerow(["month", "currency", "rate_to_reporting"])
            for label in months:
                ppm = co.CAD_RATE_BASE_PPM + rng.randint(-15_000, 15_000)
                w.writerow([label, "CAD", f"{ppm // 1_000_000}.{ppm % 1_000_000:06d}"])
        with open(folder / "cs_settings.csv", "w", newline="") as f:
            w = csv.writer(f, lineterminator="\n")
            w.writerow(["setting", "value", "valid_from"])
            w.writerow(["refund_share", co.REFUND_SHARE_START, first.isoformat()])
            w.writerow(["refund_share", co.REFUND_SHARE_LATER, date(*self.months[-2], 1).isoformat()])


def pick_plan(u: float) -> str:
    acc = 0.0
    for plan, spec in co.PLANS.items():
        acc += spec["weight"]
        if u < acc:
            return plan
    return plan


def claim_outcome(u: float) -> str | None:
    """The final status for a uniform draw `u`, or None for a claim that stays pending."""
    acc = 0.0
    for status, prob in co.CLAIM_OUTCOMES:
        acc += prob
        if u < acc:
            return status
    return None


def next_renewal_date(paid_at: int) -> date:
    """The first renewal day strictly after the local day of a payment."""
    d = local_date(paid_at)
    if d.day < co.RENEWAL_DAY:
        return date(d.year, d.month, co.RENEWAL_DAY)
    return date(*add_months(d.year, d.month, 1), co.RENEWAL_DAY)


def cents(n: int) -> str:
    sign = "-" if n < 0 else ""
    n = abs(n)
    return f"{sign}{n // 100}.{n % 100:02d}"


def _run_shard(args: tuple[str, int, str, int]) -> dict[str, int]:
    scale, seed, out, shard = args
    return Simulation(co.SCALES[scale], seed, Path(out), shard).run()


def generate(scale: str, seed: int, out: Path) -> dict:
    """Simulate `scale` with `seed` into `out` (deterministic), shards in parallel; returns the manifest."""
    spec = co.SCALES[scale]
    out.mkdir(parents=True, exist_ok=True)
    jobs = [(scale, seed, str(out), shard) for shard in range(spec.shards)]
    if spec.shards == 1:
        counts = [_run_shard(jobs[0])]
    else:
        ctx = multiprocessing.get_context("fork")
        with ctx.Pool(spec.shards) as pool:
            counts = pool.map(_run_shard, jobs)
    months = [add_months(*spec.first_month, k) for k in range(spec.months + 1)]
    manifest = {
        "scale": scale,
        "seed": seed,
        "months": [month_label(y, m) for y, m in months[:-1]],
        "future_month": month_label(*months[-1]),
        "clock_us": month_start_us(*months[-1]),
        "rows": {t: sum(c[t] for c in counts) for t in SCHEMAS},
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    return manifest
