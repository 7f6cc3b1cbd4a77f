{{ config(materialized='lean_view') }}

select order_id, refund.refund_id, refund.created_at, load_id
from (select order_id, load_id, {{ list_elements('refunds', 'refund') }} from {{ ref('stg_shopify__orders') }}) as refunds
