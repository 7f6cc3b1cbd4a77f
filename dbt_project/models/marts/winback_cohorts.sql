{#- The win-back funnel per renewal month (§5), once dunning has ended: renewals, failed, recovered by
    dunning, the cohort still unpaid, contacted (a win-back touch after the renewal date and no later
    than the next renewal day), saved (an attributed win-back order won by one of those touches),
    recovered revenue (that order) and retained revenue over the following days (informational).
    source_history_complete (§5 Source history): false when a Shopify renewal order of the month has no renewal
    behind it (its charge hidden by the API and its Recharge order missing): the month's figures are short.
    A cohort is final once the last save it can count has had its retained-revenue days. -#}
with renewals as (
    select * from {{ ref('int_renewals_dunned') }} where is_dunning_over
),

winback_campaigns as (
    select campaign from {{ ref('int_campaigns_declared') }} where eligible_orders = 'renewal'
),

touches as (
    select t.* from {{ ref('fct_campaign_touches') }} as t
    inner join winback_campaigns using (campaign)
),

contacts as (
    select distinct r.charge_id, t.ticket_id
    from renewals as r
    inner join touches as t
        on t.customer_key = r.customer_key and t.touch_at > r.scheduled_at and t.touch_at <= r.next_scheduled_at
    where r.is_in_winback_cohort
),

saves as (
    select charge_id, order_id, order_at, net_revenue, customer_key
    from (
        select
            c.charge_id,
            f.order_id,
            f.order_at,
            f.net_revenue,
            f.customer_key,
            row_number() over (partition by c.charge_id order by f.order_at, f.order_id) as rn
        from contacts as c
        inner join {{ ref('fct_attributed_orders') }} as f
            on f.touch_ticket_id = c.ticket_id and f.row_type = 'order'
        inner join winback_campaigns as w on w.campaign = f.campaign
    ) as ranked
    where rn = 1
),

retained as (
    select s.charge_id, sum(o.net_revenue) as retained_revenue
    from saves as s
    inner join {{ ref('int_orders_enriched') }} as o
        on o.customer_key = s.customer_key and o.is_renewal and not o.is_cancelled
       and o.order_at > s.order_at
       and o.order_at <= {{ add_interval_days('s.order_at', var('retained_revenue_days')) }}
    group by s.charge_id
),

members as (
    select
        r.renewal_month,
        r.charge_id,
        r.is_failed,
        r.is_recovered_by_dunning,
        r.is_in_winback_cohort,
        exists (select 1 from contacts as c where c.charge_id = r.charge_id) as is_contacted,
        s.order_id is not null as is_saved,
        s.net_revenue as recovered_revenue,
        rt.retained_revenue
    from renewals as r
    left join saves as s on s.charge_id = r.charge_id
    left join retained as rt on rt.charge_id = r.charge_id
),

cohorts as (
    select
        renewal_month,
        count(*) as renewals,
        count(*) filter (where is_failed) as failed,
        count(*) filter (where is_recovered_by_dunning) as recovered_by_dunning,
        count(*) filter (where is_in_winback_cohort) as cohort_size,
        count(*) filter (where is_contacted) as contacted,
        count(*) filter (where is_saved) as saved,
        cast(coalesce(sum(recovered_revenue), 0) as decimal(18, 2)) as recovered_revenue,
        cast(coalesce(sum(retained_revenue), 0) as decimal(18, 2)) as retained_revenue_90d
    from members
    group by renewal_month
)

select
    {{ month_date('cohorts.renewal_month') }} as renewal_month,
    renewals,
    failed,
    recovered_by_dunning,
    cohort_size,
    contacted,
    saved,
    cast({{ ratio('saved', 'cohort_size') }} as decimal(5, 4)) as save_rate,
    recovered_revenue,
    retained_revenue_90d,
    coalesce(h.source_history_complete, true) as source_history_complete,
    {#- touches count up to the next renewal day, a save within the window after one, and retained revenue
        for retained_revenue_days after the save; a month short of source history waits for it -#}
    {{ finality_columns(
        "case when coalesce(h.source_history_complete, true) then "
        ~ add_days(add_months(month_date('cohorts.renewal_month'), 1),
                   var('renewal_day_of_month') - 1 + longest_window_days() + var('retained_revenue_days') + 1)
        ~ " end") }}
from cohorts
left join {{ ref('int_renewal_history_reconciled') }} as h on h.month = cohorts.renewal_month
