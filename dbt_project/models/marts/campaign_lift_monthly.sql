{#- §12: did the campaign cause the orders? Per eligibility month and campaign with a control group, by
    assignment (intention to treat): group sizes, conversions and rates, absolute lift (treatment rate -
    control rate), relative lift (÷ control rate), incremental orders (lift × treatment size) and incremental
    margin (incremental orders × the treatment group's margin per converted order), exact and rounded half up
    once. The 95% interval for the absolute lift is the two-proportion Wald interval with unpooled standard
    error, lift ± 1.959963985 × sqrt(pt(1-pt)/nt + pc(1-pc)/nc) (rounded to 4 decimals); an estimate, never
    a booked figure. Months with no eligible customer have no row. -#}
{%- set z = 1.959963985 %}
with assigned as (
    select
        *,
        cast(date_trunc('month', {{ local_timestamp('eligible_at') }}) as date) as eligible_month
    from {{ ref('int_campaign_assignments_made') }}
),

campaigns as (select campaign, window_days from {{ ref('int_campaigns_declared') }}),

counted as (
    select
        eligible_month,
        campaign,
        max(control_share) as control_share,
        count(*) as eligible,
        count(*) filter (where assignment_group = 'treatment') as nt,
        count(*) filter (where assignment_group = 'control') as nc,
        count(conversion_order_id) filter (where assignment_group = 'treatment') as xt,
        count(conversion_order_id) filter (where assignment_group = 'control') as xc,
        coalesce(sum(conversion_margin) filter (where assignment_group = 'treatment'), 0) as treatment_margin,
        count(first_touch_at) filter (where assignment_group = 'control') as contaminated
    from assigned
    group by eligible_month, campaign
),

lift as (
    select
        *,
        xt * nc - xc * nt as lift_numerator,  -- lift = this ÷ (nt × nc), exact (counts: no overflow)
        case when nt > 0 and nc > 0 then xt / nt - xc / nc end as lift_estimate,  -- double: for the interval only
        case when nt > 0 and nc > 0
            then sqrt((xt / nt) * (1 - xt / nt) / nt + (xc / nc) * (1 - xc / nc) / nc) end as standard_error
    from counted
)

select
    l.eligible_month,
    l.campaign,
    cast(l.control_share as decimal(7, 6)) as control_share,
    l.eligible,
    l.nt as treatment_size,
    l.nc as control_size,
    l.xt as treatment_conversions,
    l.xc as control_conversions,
    {{ ratio('l.xt', 'l.nt') }} as treatment_rate,
    {{ ratio('l.xc', 'l.nc') }} as control_rate,
    cast({{ exact_quotient('l.lift_numerator', 'l.nt * l.nc', 4) }} as decimal(18, 4)) as absolute_lift,
    cast({{ exact_quotient('l.lift_numerator', 'l.nt * l.xc', 4) }} as decimal(18, 4)) as relative_lift,
    cast(round(l.lift_estimate - {{ z }} * l.standard_error, 4) as decimal(18, 4)) as lift_ci_low,
    cast(round(l.lift_estimate + {{ z }} * l.standard_error, 4) as decimal(18, 4)) as lift_ci_high,
    -- as published: the rounded interval lies wholly above or below zero
    round(l.lift_estimate - {{ z }} * l.standard_error, 4) > 0 or round(l.lift_estimate + {{ z }} * l.standard_error, 4) < 0
        as lift_excludes_zero,
    'wald_unpooled_95' as interval_method,
    cast({{ exact_quotient('l.lift_numerator', 'l.nc', 2) }} as decimal(18, 2)) as incremental_orders,
    cast(l.treatment_margin as decimal(18, 2)) as treatment_margin,
    cast({{ exact_quotient('l.lift_numerator * cast(l.treatment_margin * 100 as hugeint)', 'l.nc * l.xt', 0) }}
         * cast(0.01 as decimal(3, 2)) as decimal(18, 2)) as incremental_margin,
    l.contaminated,
    {{ ratio('l.contaminated', 'l.nc') }} as contamination_rate,
    {{ local_date(as_of()) }} >= {{ add_days(add_months('l.eligible_month', 1), 'c.window_days + 1') }} as is_final,
    {{ add_days(add_months('l.eligible_month', 1), 'c.window_days + 1') }} as final_on
from lift as l
inner join campaigns as c on c.campaign = l.campaign
