{#- The owners' question "is 10% the right share of refunds to charge CS?" (§12): per month, the net
    contribution had the refund/replacement share been 0%, 2.5%, ..., 20% (everything else as booked: the
    published P&L, closed months frozen), and the break-even share: net contribution before the refund charge
    ÷ the month's refund and replacement base (§6, int_refund_replacement_base_monthly), to 4 decimals, null when the base is zero (no refund can
    make the month a loss or a profit). Each charge is rounded to the cent once per month, as §2 says. -#}
with pnl as (
    select
        w.month,
        w.net_contribution + w.refund_replacement_charge as net_contribution_before_refund_charge,
        w.is_final,
        w.final_on,
        coalesce(b.refund_replacement_base, 0) as refund_replacement_base,
        s.refund_share as booked_refund_share
    from {{ ref('cs_pnl_monthly_wide') }} as w
    left join {{ ref('int_refund_replacement_base_monthly') }} as b on b.month = {{ month_label('w.month') }}
    left join {{ ref('int_refund_share_monthly') }} as s on s.month = {{ month_label('w.month') }}
),

shares as (
    select cast(step * 0.025 as decimal(5, 4)) as refund_share
    from (select unnest(generate_series(0, 8)) as step)
)

select
    p.month,
    s.refund_share,
    s.refund_share = p.booked_refund_share as is_booked_share,
    cast(p.net_contribution_before_refund_charge as decimal(18, 2)) as net_contribution_before_refund_charge,
    cast(p.refund_replacement_base as decimal(18, 2)) as refund_replacement_base,
    cast({{ cents('s.refund_share * p.refund_replacement_base') }} as decimal(18, 2)) as refund_replacement_charge,
    cast(p.net_contribution_before_refund_charge - {{ cents('s.refund_share * p.refund_replacement_base') }}
         as decimal(18, 2)) as net_contribution,
    cast({{ exact_quotient('cast(p.net_contribution_before_refund_charge * 100 as hugeint)',
                           'cast(p.refund_replacement_base * 100 as hugeint)', 4) }} as decimal(18, 4))
        as break_even_share,
    p.is_final,
    p.final_on
from pnl as p
cross join shares as s
