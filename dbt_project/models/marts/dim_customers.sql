{#- One row per customer_key (§2): the Shopify customer id where any system links one, else the
    normalised email; with the customer's ids in each system. -#}
with keys as (
    select cast(shopify_customer_id as varchar) as customer_key, lower(trim(email)) as email
    from {{ ref('stg_shopify__customers') }}
    union all
    select customer_key, customer_email from {{ ref('int_orders_enriched') }}
    union all
    select customer_key, customer_email from {{ ref('int_campaign_touches_identified') }}
),

customers as (
    select customer_key, min(email) as email
    from keys
    where customer_key is not null
    group by customer_key
),

recharge as (
    select shopify_customer_id, min(recharge_customer_id) as recharge_customer_id
    from {{ ref('stg_recharge__customers') }}
    group by shopify_customer_id
),

gorgias as (
    select lower(trim(email)) as email, min(gorgias_customer_id) as gorgias_customer_id
    from {{ ref('stg_gorgias__customers') }}
    group by 1
)

select
    c.customer_key,
    {{ to_bigint_or_null('c.customer_key') }} as shopify_customer_id,
    c.email,
    r.recharge_customer_id,
    g.gorgias_customer_id,
    false as is_final,  -- a dimension follows its systems: it can change any day
    cast(null as date) as final_on
from customers as c
left join recharge as r on cast(r.shopify_customer_id as varchar) = c.customer_key
left join gorgias as g on g.email = c.email
