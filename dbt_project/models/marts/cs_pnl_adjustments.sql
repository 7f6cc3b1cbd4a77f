{#- §9: what later data (or a rebuild) would change in a closed month, booked as adjustment rows in
    the first open month after it, so the books reconcile: recomputed − frozen, per line.
    A month closed under another rule version keeps its figures, and the change of rules is not later data:
    its effect (rule version 2 reverses a refund's goods, version 1 its money returned) is taken out, so only
    what the data changed is booked, valued under the month's own version (DECISIONLOG). -#}
{%- set lines = pnl_lines() %}
with computed as (
    {%- for line in lines %}
    select month, '{{ line }}' as line, {{ line }} as amount from {{ ref('int_pnl_monthly_computed') }}
    {% if not loop.last %}union all{% endif %}
    {%- endfor %}
),

closed as (select * from {{ source('ops', 'cs_pnl_closed') }}),

refund_rule_effect as (  -- per refund of an attributed order: revenue under v2 minus under v1
    select {{ month_label('f.booked_month') }} as month, f.campaign, r.money_returned - r.revenue_reversal as amount
    from {{ ref('fct_attributed_orders') }} as f
    inner join {{ ref('int_refunds_booked') }} as r on r.refund_id = f.refund_id
    where f.row_type = 'refund'
),

rule_effect as (
    select month, 'revenue_' || campaign as line, sum(amount) as amount from refund_rule_effect group by month, campaign
    union all
    select month, 'gross_profit' as line, sum(amount) as amount from refund_rule_effect group by month
    union all
    select month, 'net_contribution' as line, sum(amount) as amount from refund_rule_effect group by month
),

closed_months as (select distinct month from closed),

open_months as (
    select month from {{ ref('int_months_spanned') }}
    where month not in (select month from closed_months)
),

differences as (
    select
        f.month as affects_month,
        f.line,
        f.amount as frozen_amount,
        coalesce(c.amount, 0) as recomputed_amount,
        coalesce(c.amount, 0) - f.amount
        {%- if var('rule_version') == 'v1' %}
        + case when f.rule_version <> 'v1' then coalesce(e.amount, 0) else 0 end as amount,
        {%- else %}
        - case when f.rule_version = 'v1' then coalesce(e.amount, 0) else 0 end as amount,
        {%- endif %}
        f.closed_at,
        f.rule_version
    from closed as f
    left join computed as c on c.month = f.month and c.line = f.line
    left join rule_effect as e on e.month = f.month and e.line = f.line
),

booked as (
    select
        d.*,
        coalesce(
            (select min(o.month) from open_months as o where o.month > d.affects_month),
            {{ month_label(add_months(month_start('(select max(month) from closed_months)'), 1)) }}
        ) as booked_month
    from differences as d
    where d.amount <> 0
)

select
    {{ month_date('affects_month') }} as affects_month,
    {{ month_date('booked_month') }} as booked_month,
    line,
    cast(amount as decimal(18, 2)) as amount,
    'late data or a rebuild changed a closed month' as reason,
    cast(frozen_amount as decimal(18, 2)) as frozen_amount,
    cast(recomputed_amount as decimal(18, 2)) as recomputed_amount,
    closed_at,
    rule_version,
    false as is_final,  -- it is recomputed until the month it is booked in closes
    {{ scheduled_close(month_date('booked_month')) }} as final_on
from booked
