"""The simulated subscription-box company: scales, catalog, people and behaviour rates.

Everything the simulation draws from is declared here, so a reader can see the
company at a glance and a test can reason about expected magnitudes.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Scale:
    name: str
    first_month: tuple[int, int]  # first simulated month (store-local calendar)
    months: int  # full months of history; one more "future" month is simulated past the clock
    initial_active: int  # subscribers already active when the simulation starts
    new_per_month: int  # sign-ups per month
    agents: int
    shards: int = 1  # independent slices of the population, simulated in parallel processes


SCALES: dict[str, Scale] = {
    "tiny": Scale("tiny", (2026, 1), 3, 260, 48, 4),
    "demo": Scale("demo", (2026, 3), 6, 18_600, 1_900, 7),  # 10% held out: ~1,700 contacted (§1)
    "large": Scale("large", (2024, 9), 24, 235_000, 21_000, 40, shards=2),
}

# Plans: box price per currency, in cents. The box of month M has SKU BOX-YYYYMM-<plan>.
PLANS = {
    "C": {"title": "Classic box", "price": {"USD": 4900, "CAD": 6600}, "cost": 1900, "weight": 0.55},
    "D": {"title": "Deluxe box", "price": {"USD": 8900, "CAD": 11900}, "cost": 3600, "weight": 0.30},
    "F": {"title": "Family box", "price": {"USD": 12900, "CAD": 17400}, "cost": 5200, "weight": 0.15},
}
ADDONS = {
    "ADDON-MUG": {"title": "Enamel mug", "price": {"USD": 2400, "CAD": 3200}, "cost": 700},
    "ADDON-TEA": {"title": "Tea sampler", "price": {"USD": 3200, "CAD": 4300}, "cost": 1100},
    "ADDON-SOCKS": {"title": "Cozy socks", "price": {"USD": 1800, "CAD": 2400}, "cost": 450},
}
# Unit costs rise by this factor from the middle month of the simulation on (effective-dated costs).
COST_RISE_PERMILLE = 1060

CAD_SHARE = 0.04  # customers paying in CAD: exercises currency conversion
CAD_RATE_BASE_PPM = 730_000  # 1 CAD = 0.73 USD, drifting a little month to month
TAX_BP = 825  # sales tax 8.25% in basis points
ONE_OFF_SHIPPING = {"USD": 599, "CAD": 799}

# Renewals and dunning (business rules §5): renewal on the 15th, retries every 3 days up to the 27th.
RENEWAL_DAY = 15
DUNNING_DAYS = 12
RETRY_EVERY_DAYS = 3
P_RENEWAL_FAILS = 0.042
P_RETRY_SUCCEEDS = 0.19  # per retry; 4 retries recover ~55% of failures
P_CANCEL_PER_MONTH = 0.062  # voluntary cancellations
SYSTEM_CANCEL_REASON = "Auto-cancelled - Invalid Payment Method Not Fixed"
CANCEL_REASONS = ["Too expensive", "Too many boxes piling up", "Didn't like the last box", "Moving", ""]

# Win-back campaign (tag cs-winback): agents email the cohort from the 28th.
P_WINBACK_TOUCHED = 0.95
P_WINBACK_SAVED = 0.21  # pays within the 14-day window after the touch
P_WINBACK_LATE = 0.03  # pays after the window
P_WINBACK_BEFORE_TOUCH = 0.03  # pays after dunning ended but before the agent's email
P_WINBACK_REPLY = 0.35

# Welcome upsell campaign (tag cs-upsell-welcome): agents email new subscribers.
P_UPSELL_TOUCHED = 0.97
# §12 control groups, declared as dbt_project.yml declares them (campaign -> control_share, salt). A campaign
# left out draws nothing more from the random stream: it is simulated exactly as before control groups.
CONTROL_GROUPS = {"upsell": ("0.10", "welcome-q1"), "winback": ("0.10", "winback-q1")}
P_CONTROL_CONTACTED = 0.04  # control customers an agent contacts anyway (contamination)
P_UPSELL_BASELINE = 0.04  # control: buys the upcoming box within the week unprompted (the touch adds ~15 points)
P_WINBACK_BASELINE = 0.21  # control: fixes the card unprompted within 13 days (about what the email achieves)
P_UPSELL_REPLY = 0.245
P_UPSELL_ORDER_AFTER_REPLY = 0.93  # of repliers, order inside the window
P_UPSELL_ORDER_LATE = 0.04  # of repliers, order after the window
P_UPSELL_ORDER_NO_REPLY = 0.02  # of non-repliers, order anyway
P_UPSELL_ORDER_BEFORE_TOUCH = 0.01  # bought the upcoming box before the email
P_UPSELL_REPLY_AFTER_ORDER = 0.05  # of orders without reply: a late "thanks" reply
P_UPSELL_TOUCHED_TWICE = 0.03
P_UPSELL_ADDON = 0.85
P_UPSELL_SECOND_ADDON = 0.35
P_WELCOME_CODE = 0.12  # WELCOME10: a store code, mapped to no agent
P_ORDER_CANCELLED = 0.03

# Failed first delivery, automations and noise in campaign tickets.
P_FIRST_MESSAGE_FAILED = 0.03
P_AUTOMATION_FIRST = 0.05
P_INTERNAL_NOTE = 0.15
P_TICKET_TRASHED = 0.01
P_TAG_VARIANT = 0.08  # campaign tag typed in another case or with spaces
P_EMAIL_MIXED_CASE = 0.12

# Other orders and support work.
P_ONE_OFF_PER_MONTH = 0.018  # existing subscribers buying add-ons
P_ONE_OFF_WITH_AGENT_CODE = 0.45
P_SUPPORT_TICKET_PER_MONTH = 0.04
P_SPAM_PER_MONTH = 0.003
P_REPLY_TO_UNRELATED = 0.05
P_SURVEY = 0.3
P_TEST_ORDER_PER_MONTH = 0.0004

# Refunds, replacements, shipping, claims.
P_REFUND = 0.025
P_REFUND_FULL = 0.45  # goods, tax and shipping
P_REFUND_GOODWILL = 0.25  # of partial refunds: an amount tied to no item (refund_discrepancy)
P_REFUND_DISCREPANCY = 0.15  # of item refunds: a small refund_discrepancy on top
P_REFUND_FAILED_TXN = 0.1
P_REFUND_PENDING_ONLY = 0.03
P_REPLACEMENT = 0.008
P_LABEL_VOIDED = 0.03
P_SPLIT_SHIPMENT = 0.01
P_TEST_SHIPMENT = 0.002
P_CLAIM = 0.006
CLAIM_OUTCOMES = [  # (status, probability); the remainder stays pending
    ("approved", 0.40),
    ("approved_partial", 0.20),
    ("rejected", 0.25),
    ("cancelled", 0.05),
]
CARRIERS = [("USPS", "GroundAdvantage", 520, 900), ("UPS", "Ground", 780, 1300), ("FedEx", "Home", 820, 1400)]

# Costs finance charges the CS team (per month, cents), proportional to the team's workload.
STAFF_COST_PER_SIGNUP = 1_050  # USD
PLATFORM_BASE = 30_000  # USD
PLATFORM_PER_SIGNUP = 30  # USD
QA_TOOLING_PER_SIGNUP = (12, 36)  # USD, drawn per month
TRAINING_PER_SIGNUP_CAD = 70
REFUND_SHARE_START = "0.10"
REFUND_SHARE_LATER = "0.12"  # effective from the last simulated month

FIRST_NAMES = [
    "Ava",
    "Liam",
    "Mia",
    "Noah",
    "Emma",
    "Lucas",
    "Zoe",
    "Ethan",
    "Chloe",
    "Mason",
    "Lily",
    "Owen",
    "Nora",
    "Caleb",
    "Ruby",
    "Isaac",
    "Hazel",
    "Levi",
    "Ivy",
    "Eli",
    "Aria",
    "Jonah",
    "Maya",
    "Theo",
]
LAST_NAMES = [
    "Smith",
    "Johnson",
    "Lee",
    "Garcia",
    "Brown",
    "Davis",
    "Miller",
    "Wilson",
    "Moore",
    "Taylor",
    "Anderson",
    "Thomas",
    "Martin",
    "Clark",
    "Lewis",
    "Walker",
    "Hall",
    "Young",
    "King",
    "Wright",
]
EMAIL_DOMAINS = ["example.com", "mail.example.org", "inbox.example.net", "post.example.io"]
AGENT_DOMAIN = "acmeboxes.example"
SUPPORT_TAGS = ["shipping", "billing", "damaged-item", "address-change", "question"]
