{#- §12: every customer a campaign with a control group could contact, assigned to control or treatment, with
    what happened in the measurement window. Eligible when the campaign could first contact them: a new
    subscriber (non_renewal campaigns) at the Shopify order of their first checkout (sign-up), a win-back
    cohort member (renewal campaigns) when dunning ends; the earliest such instant up to as_of, once per
    customer and campaign. The group comes from a hash of (campaign, customer_key, salt) alone, so it never
    changes once made and anyone can recompute it.
    Conversion: an order that would qualify under §4's order rules within the window, measured from the
    eligibility instant in both groups (never from a touch): for non_renewal, the first order after it that is
    not a renewal, cancelled or replacement order; for renewal, the customer's first renewal order after it.
    Contamination: a control customer touched by the campaign within the window, still analysed as control. -#}
with campaigns as (
    select * from {{ ref('int_campaigns_declared') }}
    where control_share is not null
),

orders as {{ inlined() }} (select * from {{ ref('int_orders_enriched') }}),  -- read by two parts, each with its filters

signup_orders as (
    select shopify_order_id as order_id from {{ ref('stg_recharge__charges') }}
    where charge_type = 'checkout' and shopify_order_id is not null
    union
    select shopify_order_id from {{ ref('stg_recharge__orders') }}
    where order_type = 'checkout' and shopify_order_id is not null
),

new_subscribers as (
    select o.customer_key, min(o.order_at) as eligible_at
    from signup_orders as s
    inner join orders as o on o.order_id = s.order_id
    group by o.customer_key
),

winback_cohort as (
    select customer_key, min(dunning_ends_at) as eligible_at
    from {{ ref('int_renewals_dunned') }}
    where is_in_winback_cohort and is_dunning_over
    group by customer_key
),

eligible as (
    select
        c.campaign,
        c.eligible_orders,
        c.window_days,
        c.control_share,
        e.customer_key,
        e.eligible_at,
        {{ add_interval_days('e.eligible_at', 'c.window_days') }} as window_ends_at,
        {{ control_hash('c.campaign', 'e.customer_key', 'c.control_salt') }} as assignment_hash
    from campaigns as c
    inner join (
        select 'non_renewal' as eligible_orders, * from new_subscribers
        union all
        select 'renewal', * from winback_cohort
    ) as e on e.eligible_orders = c.eligible_orders
    where e.eligible_at <= {{ as_of() }}
),

conversions as (
    select campaign, customer_key, order_id, order_at, margin
    from (
        select
            e.campaign,
            e.customer_key,
            o.order_id,
            o.order_at,
            o.net_revenue - o.cogs as margin,
            o.order_at <= e.window_ends_at as is_in_window,
            row_number() over (partition by e.campaign, e.customer_key order by o.order_at, o.order_id) as rn
        from eligible as e
        inner join orders as o
            on o.customer_key = e.customer_key and o.order_at > e.eligible_at
           and not o.is_cancelled and o.is_renewal = (e.eligible_orders = 'renewal')
           and (e.eligible_orders = 'renewal' or (not o.is_replacement and o.order_at <= e.window_ends_at))
    ) as ranked
    where rn = 1 and is_in_window
),

touches as (
    select e.campaign, e.customer_key, min(t.touch_at) as first_touch_at
    from eligible as e
    inner join {{ ref('int_campaign_touches_identified') }} as t
        on t.campaign = e.campaign and t.customer_key = e.customer_key
       and t.touch_at >= e.eligible_at and t.touch_at <= e.window_ends_at
    group by e.campaign, e.customer_key
)

select
    e.campaign,
    e.customer_key,
    e.eligible_at,
    e.window_ends_at,
    e.control_share,
    e.assignment_hash,
    case when {{ is_in_control('e.assignment_hash', 'e.control_share') }} then 'control' else 'treatment' end
        as assignment_group,
    t.first_touch_at,
    c.order_id as conversion_order_id,
    c.order_at as conversion_at,
    c.margin as conversion_margin
from eligible as e
left join touches as t on t.campaign = e.campaign and t.customer_key = e.customer_key
left join conversions as c on c.campaign = e.campaign and c.customer_key = e.customer_key
