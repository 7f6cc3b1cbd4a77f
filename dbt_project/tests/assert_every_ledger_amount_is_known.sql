{#- §2: a SKU without a cost or a currency without an fx rate is a data-quality failure, never a zero.
    Returns each order, refund or cost row whose amount is unknown, with what is missing. -#}
select 'order' as kind, cast(order_id as varchar) as id, order_month as month,
       case when net_revenue is null then 'no fx rate for ' || currency || ' in ' || order_month
            when lines_without_cost > 0 then 'a line SKU has no product cost on ' || cast(order_date as varchar)
            else 'no fx rate for a product cost or label currency in ' || order_month end as problem
from {{ ref('int_orders_enriched') }}
where net_revenue is null or cogs is null
union all
select 'refund', cast(refund_id as varchar), refund_month, 'no fx rate for ' || currency || ' in ' || refund_month
from {{ ref('int_refunds_booked') }}
where amount is null
union all
select 'cs_cost', cast(source_line as varchar), month, 'no fx rate for ' || currency || ' in ' || month
from {{ ref('int_cs_costs_converted') }}
where amount is null
