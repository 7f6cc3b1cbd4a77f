{{ config(materialized='incremental', unique_key='order_id', incremental_strategy='delete+insert',
          on_schema_change='append_new_columns') }}

{#- The order ledger (§2): every non-test Shopify order with its customer, renewal, renewal-tag and
    replacement flags, net revenue and COGS in the reporting currency. A missing fx rate or SKU cost leaves the
    amount null (never zero): the amount_is_known tests on this model fail the build and name the order.

    Incremental: a build rebuilds only the orders whose inputs changed since the last one (a new version
    of the order, with its lines; a new version of a label naming it or of a Recharge charge or order
    linking it; a changed link of its email). A change of the finance inputs or of a setting a column
    depends on (currency, time zone, the replacement and renewal tags) rebuilds every order.
    As the vendors document, a shipment's reference, a charge's shopify_order_id and an order's test flag
    do not change once set, so a changed row names the only orders it can touch. -#}
{%- set changes_only = rebuilds_changes_only() %}

with fx as (select * from {{ ref('stg_finance__fx_rates') }}),

product_costs as (select * from {{ ref('stg_finance__product_costs') }}),

links as (select * from {{ ref('int_customer_emails_linked') }}),

-- everything a column depends on besides the order's own rows
rules as (
    select hash(
        '{{ var("reporting_currency") }}', '{{ var("replacement_tag") }}', '{{ var("renewal_order_tag") }}',
        '{{ var("store_timezone") }}',
        (select list((month, currency, rate_to_reporting) order by month, currency) from fx),
        (select list((sku, valid_from, unit_cost, currency) order by sku, valid_from) from product_costs)
    ) as fingerprint
),

inputs as (
    select {{ newest_input_load_id([ref('stg_shopify__orders'), ref('int_shipment_labels_counted'),
                                    ref('int_renewal_orders_linked')]) }} as load_id
),

{% if changes_only -%}
since as (select {{ last_built_load_id() }} as load_id),

new_labels as (
    select reference_number from {{ ref('int_shipment_labels_counted') }}
    where load_id > (select load_id from since) and reference_number is not null
),

-- a new order is in the first set; the ledger (this) finds the known orders a label or a link names
changed_orders as (
    select order_id from {{ ref('stg_shopify__orders') }} where load_id > (select load_id from since)
    union
    select o.order_id from {{ this }} as o
    inner join new_labels as l on l.reference_number = o.order_number
    union
    select o.order_id from {{ this }} as o
    inner join new_labels as l on l.reference_number = o.order_id
    union
    select shopify_order_id from {{ ref('int_renewal_orders_linked') }} where load_id > (select load_id from since)
    union
    select o.order_id from {{ this }} as o
    inner join links on links.email_normalized = o.customer_email
    where links.changed_load_id > (select load_id from since)
    union
    select order_id from {{ ref('stg_shopify__orders') }}
    where exists (select 1 from {{ this }} where rules_fingerprint is distinct from (select fingerprint from rules))
),
{%- endif %}

orders as (
    select *, cast(local_at as date) as order_date, {{ month_label('local_at') }} as order_month
    from (
        select *, {{ local_timestamp('created_at') }} as local_at, lower(trim(email)) as customer_email
        from {{ ref('stg_shopify__orders') }}
        where not coalesce(is_test, false)
        {%- if changes_only %}
          -- distinct: without it the planner sized the set like the orders and hashed them all to probe the few
          and order_id in (select distinct order_id from changed_orders)
        {%- endif %}
    ) as local
),

-- each cost is in effect from its valid_from until the SKU's next one: a line meets at most one
-- (sku, valid_from is unique), so no ranking of the millions of lines is needed
costs as (
    select *, lead(valid_from) over (partition by sku order by valid_from) as valid_until
    from product_costs
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

{%- set line_cost -%}
    l.quantity * case when l.cost_currency = '{{ var("reporting_currency") }}' then l.unit_cost else l.unit_cost * fx.rate_to_reporting end
{%- endset %}

-- rounded once per order (§2), here rather than in each amount that adds it
goods as (
    select
        l.order_id,
        count(*) filter (where l.unit_cost is null) as lines_without_cost,
        count(*) filter (where l.unit_cost is not null and l.cost_currency <> '{{ var("reporting_currency") }}'
                         and fx.rate_to_reporting is null) as lines_without_rate,
        {{ cents('sum(' ~ line_cost ~ ')') }} as goods_cost
    from lines_costed as l
    left join fx on fx.month = l.order_month and fx.currency = l.cost_currency
    group by l.order_id
),

-- named apart from the sums: a distinct aggregate inside `goods` grouped all the millions of lines a second time
skus_without_cost as (
    select order_id, {{ dbt.listagg('sku', "', '", 'order by sku') }} as skus
    from (select distinct order_id, sku from lines_costed where unit_cost is null) as uncosted
    group by order_id
),

-- a label names an order by its number or its id; an order may have several labels, in several currencies
counted_labels as (
    select reference_number, label_currency, label_rate from {{ ref('int_shipment_labels_counted') }}
    where is_counted and reference_number is not null
),

label_matches as (
    select o.order_id, lb.label_currency, lb.label_rate
    from counted_labels as lb inner join orders as o on o.order_number = lb.reference_number
    union all
    select o.order_id, lb.label_currency, lb.label_rate
    from counted_labels as lb inner join orders as o on o.order_id = lb.reference_number
),

labels_by_currency as (
    select order_id, label_currency, sum(label_rate) as label_cost_original
    from label_matches
    group by order_id, label_currency
),

labels as (
    select
        lb.order_id,
        -- `is distinct from`: a label with a rate but no currency is unknown too (`<>` would say NULL and skip it)
        count(*) filter (where lb.label_currency is distinct from '{{ var("reporting_currency") }}'
                           and fx.rate_to_reporting is null)
            as label_currencies_without_rate,
        sum({{ to_reporting('lb.label_cost_original', 'lb.label_currency', 'fx.rate_to_reporting') }}) as label_cost
    from labels_by_currency as lb
    inner join orders as o on o.order_id = lb.order_id
    left join fx on fx.month = o.order_month and fx.currency = lb.label_currency
    group by lb.order_id
),

-- a membership test, not a join to the distinct ids: no deduplication of every link first
renewal_order_ids as (
    select shopify_order_id from {{ ref('int_renewal_orders_linked') }} where is_successful
    {%- if changes_only %}
      -- the links of the orders rebuilt, not a hash of every charge's and Recharge order's link to probe a few
      and shopify_order_id in (select order_id from orders)
    {%- endif %}
)

select
    o.order_id,
    o.order_name,
    o.order_number,
    coalesce(cast(o.customer_id as varchar), cast(links.shopify_customer_id as varchar), o.customer_email)
        as customer_key,
    o.customer_email,
    o.created_at as order_at,
    o.order_date,
    o.order_month,
    o.cancelled_at,
    o.cancelled_at is not null as is_cancelled,
    {{ has_tag('o.tags', var('replacement_tag')) }} as is_replacement,
    -- §5 source history reads it; tested here, once per changed order, rather than over every order each build
    {{ has_tag('o.tags', var('renewal_order_tag')) }} as has_renewal_order_tag,
    o.order_id in (select shopify_order_id from renewal_order_ids) as is_renewal,
    o.currency,
    o.subtotal_price as subtotal_original,
    fx.rate_to_reporting as fx_rate,
    {{ to_reporting('o.subtotal_price', 'o.currency', 'fx.rate_to_reporting') }} as net_revenue,
    case when coalesce(g.lines_without_cost, 0) = 0 and coalesce(g.lines_without_rate, 0) = 0
         then coalesce(g.goods_cost, 0) end as goods_cost,
    case when coalesce(lb.label_currencies_without_rate, 0) = 0 then coalesce(lb.label_cost, 0) end as label_cost,
    case when coalesce(g.lines_without_cost, 0) = 0 and coalesce(g.lines_without_rate, 0) = 0
              and coalesce(lb.label_currencies_without_rate, 0) = 0
         then coalesce(g.goods_cost, 0) + coalesce(lb.label_cost, 0) end as cogs,
    coalesce(g.lines_without_cost, 0) as lines_without_cost,
    missing.skus as skus_without_cost,
    (select load_id from inputs) as inputs_load_id,
    (select fingerprint from rules) as rules_fingerprint
from orders as o
left join fx on fx.month = o.order_month and fx.currency = o.currency
left join goods as g on g.order_id = o.order_id
left join skus_without_cost as missing on missing.order_id = o.order_id
left join labels as lb on lb.order_id = o.order_id
left join links on links.email_normalized = o.customer_email
