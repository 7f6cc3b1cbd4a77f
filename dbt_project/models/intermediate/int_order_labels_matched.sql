{#- Label cost per order (§2): production shipments whose reference names the order (its name `#1042`,
    its number `1042` or its id, surrounding spaces ignored); a refunded label costs nothing.
    One row per order and label currency; the ledger converts. -#}
with orders as (
    select order_id, order_number from {{ ref('stg_shopify__orders') }}
),

order_references as (
    select cast(order_number as varchar) as reference, order_id from orders where order_number is not null
    union all
    select cast(order_id as varchar), order_id from orders
),

shipments as (
    select shipment_id, ltrim(trim(reference), '#') as reference, label_rate, label_currency
    from {{ ref('stg_easypost__shipments') }}
    where mode = 'production' and coalesce(refund_status, '') <> 'refunded' and reference is not null
)

select
    r.order_id,
    s.label_currency,
    count(*) as labels,
    sum(s.label_rate) as label_cost_original
from shipments as s
inner join order_references as r on r.reference = s.reference
group by r.order_id, s.label_currency
