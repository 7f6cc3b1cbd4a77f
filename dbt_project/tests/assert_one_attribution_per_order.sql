{#- §4: each order is attributed to at most one campaign (one `order` row in the fact). -#}
select order_id, count(*) as attributions
from {{ ref('fct_attributed_orders') }}
where row_type = 'order'
group by order_id
having count(*) > 1
