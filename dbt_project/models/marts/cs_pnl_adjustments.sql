{#- §9: what later data (or a rebuild) would change in a closed month, booked as adjustment rows in
    the first open month after it, so the books reconcile: recomputed − frozen, per line. -#}
{%- set lines = pnl_lines() %}
with computed as (
    {%- for line in lines %}
    select month, '{{ line }}' as line, {{ line }} as amount from {{ ref('int_pnl_monthly_computed') }}
    {% if not loop.last %}union all{% endif %}
    {%- endfor %}
),

closed as (select * from {{ source('ops', 'cs_pnl_closed') }}),

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
        coalesce(c.amount, 0) - f.amount as amount,
        f.closed_at,
        f.rule_version
    from closed as f
    left join computed as c on c.month = f.month and c.line = f.line
)

select
    d.affects_month,
    coalesce(
        (select min(o.month) from open_months as o where o.month > d.affects_month),
        {{ month_label(add_months(month_start('(select max(month) from closed_months)'), 1)) }}
    ) as booked_month,
    d.line,
    cast(d.amount as decimal(18, 2)) as amount,
    'late data or a rebuild changed a closed month' as reason,
    d.frozen_amount,
    d.recomputed_amount,
    d.closed_at,
    d.rule_version
from differences as d
where d.amount <> 0
