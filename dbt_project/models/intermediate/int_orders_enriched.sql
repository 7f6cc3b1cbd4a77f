{#- The order ledger (§2): every non-test Shopify order with its customer, renewal and replacement
    flags, net revenue and COGS in the reporting currency. A missing fx rate or SKU cost leaves the
    amount null (never zero): the amount_is_known tests on this model fail the build and name the order. -#}
with orders as (
    select
        *,
        {{ local_date('created_at') }} as order_date,
        {{ local_month('created_at') }} as order_month
    from {{ ref('stg_shopify__orders') }}
    where not coalesce(is_test, false)
),

fx as (select * from {{ ref('stg_finance__fx_rates') }}),

-- each cost is in effect from its valid_from until the SKU's next one: a line meets at most one
-- (sku, valid_from is unique), so no ranking of the millions of lines is needed
costs as (
    select *, lead(valid_from) over (partition by sku order by valid_from) as valid_until
    from {{ ref('stg_finance__product_costs') }}
),

lines_costed as (
    select
        l.order_id,
        l.sku,
        l.quantity,
        c.unit_cost,
        c.currency as cost_currency,
        o.order_month
    from {{ ref('stg_shopify__order_lines') }} as l
    inner join orders as o on o.order_id = l.order_id
    left join costs as c
        on c.sku = l.sku and c.valid_from <= o.order_date and (c.valid_until is null or o.order_date < c.valid_until)
),

goods as (
    select
        l.order_id,
        count(*) filter (where l.unit_cost is null) as lines_without_cost,
        string_agg(distinct l.sku, ', ') filter (where l.unit_cost is null) as skus_without_cost,
        count(*) filter (where l.unit_cost is not null and l.cost_currency <> '{{ var("reporting_currency") }}'
                         and fx.rate_to_reporting is null) as lines_without_rate,
        sum(l.quantity * case when l.cost_currency = '{{ var("reporting_currency") }}' then l.unit_cost
                              else l.unit_cost * fx.rate_to_reporting end) as goods_cost_unrounded
    from lines_costed as l
    left join fx on fx.month = l.order_month and fx.currency = l.cost_currency
    group by l.order_id
),

labels as (
    select
        lb.order_id,
        -- `is distinct from`: a label with a rate but no currency is unknown too (`<>` would say NULL and skip it)
        count(*) filter (where lb.label_currency is distinct from '{{ var("reporting_currency") }}'
                           and fx.rate_to_reporting is null)
            as label_currencies_without_rate,
        sum({{ to_reporting('lb.label_cost_original', 'lb.label_currency', 'fx.rate_to_reporting') }}) as label_cost
    from {{ ref('int_order_labels_matched') }} as lb
    inner join orders as o on o.order_id = lb.order_id
    left join fx on fx.month = o.order_month and fx.currency = lb.label_currency
    group by lb.order_id
),

links as (select * from {{ ref('int_customer_emails_linked') }}),

renewals as (select distinct shopify_order_id from {{ ref('int_renewal_orders_linked') }})

select
    o.order_id,
    o.order_name,
    o.order_number,
    coalesce(cast(o.customer_id as varchar), cast(links.shopify_customer_id as varchar), lower(trim(o.email)))
        as customer_key,
    lower(trim(o.email)) as customer_email,
    o.created_at as order_at,
    o.order_date,
    o.order_month,
    o.cancelled_at,
    o.cancelled_at is not null as is_cancelled,
    {{ has_tag('o.tags', var('replacement_tag')) }} as is_replacement,
    renewals.shopify_order_id is not null as is_renewal,
    o.currency,
    o.subtotal_price as subtotal_original,
    fx.rate_to_reporting as fx_rate,
    {{ to_reporting('o.subtotal_price', 'o.currency', 'fx.rate_to_reporting') }} as net_revenue,
    case when coalesce(g.lines_without_cost, 0) = 0 and coalesce(g.lines_without_rate, 0) = 0
         then {{ cents('coalesce(g.goods_cost_unrounded, 0)') }} end as goods_cost,
    case when coalesce(lb.label_currencies_without_rate, 0) = 0 then coalesce(lb.label_cost, 0) end as label_cost,
    case when coalesce(g.lines_without_cost, 0) = 0 and coalesce(g.lines_without_rate, 0) = 0
              and coalesce(lb.label_currencies_without_rate, 0) = 0
         then {{ cents('coalesce(g.goods_cost_unrounded, 0)') }} + coalesce(lb.label_cost, 0) end as cogs,
    coalesce(g.lines_without_cost, 0) as lines_without_cost,
    g.skus_without_cost
from orders as o
left join fx on fx.month = o.order_month and fx.currency = o.currency
left join goods as g on g.order_id = o.order_id
left join labels as lb on lb.order_id = o.order_id
left join links on links.email_normalized = lower(trim(o.email))
left join renewals on renewals.shopify_order_id = o.order_id
