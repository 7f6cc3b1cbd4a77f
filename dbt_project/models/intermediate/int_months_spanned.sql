{#- The month spine of every mart: each store-local month from the first to the last month with an
    order, a refund or a campaign touch, with no gaps. -#}
with active as (
    select order_month as month from {{ ref('int_orders_enriched') }}
    union
    select refund_month from {{ ref('int_refunds_booked') }}
    union
    select touch_month from {{ ref('int_campaign_touches_identified') }}
),

bounds as (select min(month) as first_month, max(month) as last_month from active)

{{ month_labels_between('(select first_month from bounds)', '(select last_month from bounds)') }}
where exists (select 1 from bounds where first_month is not null)
