{{ config(materialized='lean_view') }}

select txn.transaction_id, refund_id, order_id, txn.kind, txn.status, txn.amount, load_id
from (
    select order_id, refund.refund_id, load_id, {{ list_elements('refund.transactions', 'txn') }}
    from (select order_id, load_id, {{ list_elements('refunds', 'refund') }} from {{ ref('stg_shopify__orders') }}) as refunds
) as transactions
