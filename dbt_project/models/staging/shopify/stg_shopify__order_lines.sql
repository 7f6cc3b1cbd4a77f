{{ config(materialized='lean_view') }}

select order_id, line_position, line.line_item_id, line.sku, line.quantity, load_id
from (
    select order_id, load_id, {{ list_elements('line_items', 'line', 'line_position') }}
    from {{ ref('stg_shopify__orders') }}
) as lines
