{#- Every (order, campaign, touch) pair that meets a declared campaign's rules (§4), before priority.
    Touch campaigns: the touch's customer, an order after the touch and no later than the window's end,
    renewal or non-renewal orders as declared; a reply before the order when declared; renewal-order
    campaigns (win-back) also need a win-back cohort renewal before the touch and take only the
    customer's first renewal order after it. Coupon campaigns: a code mapped to an agent on the order's
    local date. Cancelled and replacement orders are never attributed. -#}
with campaigns as (select * from {{ ref('int_campaigns_declared') }}),

-- read by three parts, each scanning the ledger with its own filters and its join's
orders as {{ inlined() }} (
    select * from {{ ref('int_orders_enriched') }}
    where not is_cancelled and not is_replacement
),

touches as (
    select t.*, c.priority, c.reply_required, c.eligible_orders
    from {{ ref('int_campaign_touches_identified') }} as t
    inner join campaigns as c on c.campaign = t.campaign
),

replies as (select * from {{ ref('int_ticket_replies_collected') }}),

renewal_orders as (
    select order_id, customer_key, order_at from {{ ref('int_orders_enriched') }}
    where is_renewal and not is_cancelled
),

-- win-back: the customer's first renewal order after each touch
first_renewal_after_touch as (
    select ticket_id, campaign, order_id
    from (
        select
            t.ticket_id,
            t.campaign,
            r.order_id,
            row_number() over (partition by t.ticket_id, t.campaign order by r.order_at, r.order_id) as rn
        from touches as t
        inner join renewal_orders as r on r.customer_key = t.customer_key and r.order_at > t.touch_at
        where t.eligible_orders = 'renewal'
    ) as ranked
    where rn = 1
),

cohort_renewals as (
    select customer_key, scheduled_at from {{ ref('int_renewals_dunned') }} where is_in_winback_cohort
),

touch_candidates as (
    select
        o.order_id,
        t.campaign,
        t.priority,
        t.ticket_id as touch_ticket_id,
        t.touch_at,
        t.touch_month,
        t.agent_email
    from touches as t
    inner join orders as o
        on o.customer_key = t.customer_key and o.order_at > t.touch_at and o.order_at <= t.window_ends_at
    where o.is_renewal = (t.eligible_orders = 'renewal')
      and (not t.reply_required or exists (
          select 1 from replies as r
          where r.ticket_id = t.ticket_id and r.replied_at > t.touch_at
            and r.replied_at <= t.window_ends_at and r.replied_at < o.order_at))
      and (t.eligible_orders <> 'renewal' or (
          exists (select 1 from cohort_renewals as cr
                  where cr.customer_key = t.customer_key and cr.scheduled_at < t.touch_at)
          and exists (select 1 from first_renewal_after_touch as f
                      where f.ticket_id = t.ticket_id and f.campaign = t.campaign and f.order_id = o.order_id)))
),

coupon_matches as (
    select
        o.order_id,
        cp.agent_email,
        row_number() over (partition by o.order_id order by d.code_position, cp.valid_from, cp.source_line) as rn
    from orders as o
    inner join {{ ref('stg_shopify__order_discount_codes') }} as d on d.order_id = o.order_id
    inner join {{ ref('stg_finance__agent_coupons') }} as cp
        on cp.code_normalized = lower(trim(d.code))
       and cp.valid_from <= o.order_date and (cp.valid_to is null or o.order_date <= cp.valid_to)
),

coupon_candidates as (
    select
        m.order_id,
        c.campaign,
        c.priority,
        cast(null as bigint) as touch_ticket_id,
        cast(null as timestamptz) as touch_at,
        o.order_month as touch_month,
        m.agent_email
    from coupon_matches as m
    inner join orders as o on o.order_id = m.order_id
    cross join (select * from campaigns where kind = 'coupon') as c
    where m.rn = 1
)

select * from touch_candidates
union all
select * from coupon_candidates
