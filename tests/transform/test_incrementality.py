"""§12 incrementality: control groups, lift and the refund-share question, against the sandbox's answer key.

Real parts: the emulators on loopback, ingest into a DuckDB file, one `dbt build`, then every row of
campaign_assignments, campaign_lift_monthly and refund_share_sensitivity compared with the answer key
(which computes them in plain Python with Decimal, the interval by its own formula).
"""

from __future__ import annotations

import random
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest

from pipeline.dbt import run_dbt
from sandbox import holdout
from sandbox.answer_key import AnswerKey, Campaign, Rules, wald_interval
from sandbox.calendar import DAY
from sandbox.pull import pull_and_build
from sandbox.simulate import generate
from sandbox.verify import compare
from tests.sandbox.world import World, t


def assert_incrementality_equals_the_answer_key(warehouse: Path, key: AnswerKey) -> None:
    checked, problems = compare(warehouse, key.incrementality_marts())
    assert not problems, "\n".join(problems)
    assert checked > 0


def test_the_wald_interval_matches_the_textbook():
    """Newcombe (1998), Stat Med 17:873, table II, method 1 (Wald, no continuity correction):
    56/70 - 48/80 = 0.2000, 95% CI 0.0575 to 0.3425; 9/10 - 3/10 = 0.6000, 95% CI 0.2605 to 0.9395."""
    assert wald_interval(56, 70, 48, 80) == (Decimal("0.0575"), Decimal("0.3425"))
    assert wald_interval(9, 10, 3, 10) == (Decimal("0.2605"), Decimal("0.9395"))
    assert wald_interval(5, 10, 0, 0) is None  # no control group: no interval


def test_the_control_hash_is_the_same_in_sql_and_python(data_dir):
    """The dbt macros (control_hash, is_in_control) and sandbox.holdout put the same customers in control,
    on many keys and shares, including keys on either side of the threshold."""
    rng = random.Random(27)
    rows = [
        (rng.choice(["upsell", "winback", "vip"]), str(rng.randrange(10**12, 10**13)) if i % 3 else f"c{i}@x.com",
         rng.choice(["s1", "welcome-2026", "é"]), rng.choice(["0", "0.1", "0.5", "0.123456", "0.999999"]))
        for i in range(3000)
    ]  # fmt: skip
    inline = (
        "select {{ control_hash('campaign', 'customer_key', 'salt') }} as h, "
        "{{ is_in_control(control_hash('campaign', 'customer_key', 'salt'), 'cast(share as decimal(7, 6))') }} as c "
        "from keys order by i"
    )
    data_dir.mkdir(parents=True)  # dbt opens the (empty) warehouse to compile
    out = run_dbt("compile", extra=["--inline", inline], quiet=True)
    sql = out[out.index("select ") :].strip()
    con = duckdb.connect()
    con.execute("create table keys (i int, campaign varchar, customer_key varchar, salt varchar, share varchar)")
    con.executemany("insert into keys values (?, ?, ?, ?, ?)", [(i, *r) for i, r in enumerate(rows)])
    got = con.execute(sql).fetchall()
    want = [
        (holdout.assignment_hash(c, k, s), holdout.group(c, k, s, Decimal(share)) == holdout.CONTROL)
        for c, k, s, share in rows
    ]
    assert got == want
    assert 0 < sum(c for _, c in got) < len(got)


@pytest.mark.parametrize("seed", [1, 2])
def test_the_incrementality_marts_equal_the_answer_key(seed, tiny, tiny_seed2, data_dir):
    sim = tiny if seed == 1 else tiny_seed2
    clock = pull_and_build(sim)
    key = AnswerKey(sim, as_of=clock)
    assert_incrementality_equals_the_answer_key(data_dir / "warehouse.duckdb", key)
    groups = {(a["campaign"], a["assignment_group"]) for a in key.campaign_assignments()}
    assert groups == {(c, g) for c in ("upsell", "winback") for g in (holdout.CONTROL, holdout.TREATMENT)}


@pytest.mark.slow
def test_the_incrementality_marts_equal_the_answer_key_at_demo_scale(tmp_path, data_dir):
    """The demo company: the welcome upsell's lift is real and its interval excludes zero in every complete month;
    the win-back's (the cohort would mostly have paid anyway) cannot be told from zero over the complete months
    (a single month may exclude it by chance: five intervals at 95%)."""
    sim = tmp_path / "demo-1"
    generate("demo", 1, sim)
    clock = pull_and_build(sim)
    key = AnswerKey(sim, as_of=clock)
    assert_incrementality_equals_the_answer_key(data_dir / "warehouse.duckdb", key)
    lift = [r for r in key.campaign_lift_monthly() if r["is_final"]]
    assert all(r["lift_excludes_zero"] and r["absolute_lift"] > 0 for r in lift if r["campaign"] == "upsell")
    winback = [r for r in lift if r["campaign"] == "winback"]
    counts = (sum(r[k] for r in winback) for k in ("treatment_conversions", "treatment_size", "control_conversions",
                                                    "control_size"))  # fmt: skip
    low, high = wald_interval(*counts)
    assert low < 0 < high, (low, high)


VIP = {"kind": "touch", "tag": "cs-vip", "window_days": 3, "reply_required": False, "eligible_orders": "non_renewal",
       "control_share": 0.5, "control_salt": "vip-2026"}  # fmt: skip


def test_a_control_group_on_a_third_campaign_is_one_declaration(tmp_path, data_dir):
    """A third campaign declared with control_share and control_salt gets assignments and lift rows, equal to the
    answer key given the same declaration; the other campaigns, declared without, get none."""
    w = World()
    w.agents()
    signup = t(2026, 2, 3, 10)
    people = [w.customer(f"p{i}@x.com", 100 + 10 * i) for i in range(16)]
    control = [holdout.group("vip", str(p["shopify_id"]), "vip-2026", Decimal("0.5")) == "control" for p in people]
    assert 0 < sum(control) < len(people)
    for i, p in enumerate(people):
        w.signup(p, signup + i * 3600 * 1_000_000)
        if not control[i] or i == control.index(True):  # treatment is contacted; one control customer is too
            w.touch(p, "cs-vip", signup + DAY)
        if i % 2 == 0:  # half of them order again: within vip's 3 days, or after them
            w.order(p, signup + (2 if i % 4 == 0 else 5) * DAY)
    sim = w.write(tmp_path / "world")
    declared = {
        "campaigns": {
            "winback": {"kind": "touch", "tag": "cs-winback", "window_days": 14, "reply_required": False,
                        "eligible_orders": "renewal"},
            "vip": VIP,
            "upsell": {"kind": "touch", "tag": "cs-upsell-welcome", "window_days": 7, "reply_required": True,
                       "eligible_orders": "non_renewal"},
            "coupon": {"kind": "coupon", "eligible_orders": "coupon"},
        },
        "attribution_priority": ["winback", "vip", "upsell", "coupon"],
    }  # fmt: skip
    clock = pull_and_build(sim, variables=declared)
    rules = Rules(
        campaigns=[
            Campaign("winback", "touch", "cs-winback", 14, False, "renewal"),
            Campaign("vip", "touch", "cs-vip", 3, False, "non_renewal", Decimal("0.5"), "vip-2026"),
            Campaign("upsell", "touch", "cs-upsell-welcome", 7, True, "non_renewal"),
            Campaign("coupon", "coupon", eligible="coupon"),
        ]
    )
    key = AnswerKey(sim, as_of=clock, rules=rules)
    assert_incrementality_equals_the_answer_key(data_dir / "warehouse.duckdb", key)
    con = duckdb.connect(str(data_dir / "warehouse.duckdb"), read_only=True)
    try:
        groups = con.execute("""SELECT campaign, assignment_group, count(*), count(*) FILTER (WHERE is_contaminated)
                                FROM marts.campaign_assignments GROUP BY ALL ORDER BY ALL""").fetchall()
        lift = con.execute("SELECT campaign, eligible, treatment_conversions + control_conversions "
                           "FROM marts.campaign_lift_monthly").fetchall()  # fmt: skip
    finally:
        con.close()
    assert [g[:2] for g in groups] == [("vip", "control"), ("vip", "treatment")]
    assert [g[2:] for g in groups] == [(sum(control), 1), (16 - sum(control), 0)]  # contamination stays in control
    assert lift == [("vip", 16, 4)]
