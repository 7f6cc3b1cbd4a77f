{{ config(materialized='lean_view') }}

{#- A refund's goods: the pre-tax subtotal in shop money (subtotal_set; the bare `subtotal` is a JSON number) -#}
select line.line_item_id, line.quantity, line.subtotal, refund_id, order_id, load_id
from (
    select order_id, refund.refund_id, load_id, {{ list_elements('refund.refund_line_items', 'line') }}
    from (select order_id, load_id, {{ list_elements('refunds', 'refund') }} from {{ ref('stg_shopify__orders') }}) as refunds
) as refund_lines
