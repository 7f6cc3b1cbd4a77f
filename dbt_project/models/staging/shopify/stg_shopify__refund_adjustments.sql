{{ config(materialized='lean_view') }}

{#- A refund's amounts tied to no line item (shipping_refund, refund_discrepancy), signed as Shopify sends them:
    negative is money back to the customer. -#}
select adjustment.adjustment_id, adjustment.kind, adjustment.amount, refund_id, order_id, load_id
from (
    select order_id, refund.refund_id, load_id, {{ list_elements('refund.order_adjustments', 'adjustment') }}
    from (select order_id, load_id, {{ list_elements('refunds', 'refund') }} from {{ ref('stg_shopify__orders') }}) as refunds
) as adjustments
