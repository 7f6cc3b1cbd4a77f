{{ config(materialized='lean_view') }}

{#- Shopify orders linked to a recurring Recharge charge (from charges, and from Recharge's orders, which carry
    the same link and are not hidden by the charges' 90-day API limit). A renewal order (§2, §4) is one
    created by a successful one: `is_successful`. A view: the ledger reads only the orders it rebuilds, and
    finds those through the links of new loads (successful or not: a status may change). -#}
select shopify_order_id, status = 'success' as is_successful, load_id
from {{ ref('stg_recharge__charges') }}
where charge_type = 'recurring' and shopify_order_id is not null
union all
select shopify_order_id, status = 'success', load_id
from {{ ref('stg_recharge__orders') }}
where order_type = 'recurring' and shopify_order_id is not null
