{#- Shopify orders created by a successful recurring Recharge charge: the renewal orders (§2, §4).
    Recharge's orders carry the same link and are not hidden by the charges' 90-day API limit. -#}
select shopify_order_id
from {{ ref('stg_recharge__charges') }}
where charge_type = 'recurring' and status = 'success' and shopify_order_id is not null
union
select shopify_order_id
from {{ ref('stg_recharge__orders') }}
where order_type = 'recurring' and status = 'success' and shopify_order_id is not null
