"""Control groups (business rules §12): the stated hash that puts an eligible customer in a campaign's control
group. The same function is the dbt macro `control_hash` / `is_in_control` (macros/campaigns.sql); a test
checks that both agree on many keys.

hash = the first 8 bytes of SHA-256('campaign|customer_key|salt', UTF-8) as an unsigned integer h;
control when h / 2^64 < control_share, compared exactly (no float).
"""

from __future__ import annotations

import hashlib
from decimal import Decimal
from fractions import Fraction

CONTROL = "control"
TREATMENT = "treatment"


def assignment_hash(campaign: str, customer_key: str, salt: str) -> str:
    """The first 16 hex digits (8 bytes) of the SHA-256: published beside the group so anyone can recompute it."""
    return hashlib.sha256(f"{campaign}|{customer_key}|{salt}".encode()).hexdigest()[:16]


def group(campaign: str, customer_key: str, salt: str, control_share: Decimal) -> str:
    h = int(assignment_hash(campaign, customer_key, salt), 16)
    return CONTROL if Fraction(h, 2**64) < Fraction(control_share) else TREATMENT
