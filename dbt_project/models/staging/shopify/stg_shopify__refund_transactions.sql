with transactions as (
    select refund_id, order_id, {{ json_each('transactions_json', alias='txn') }}
    from {{ ref('stg_shopify__refunds') }}
)

{{ unpack_json('transactions', 'txn', [
    ['transaction_id', 'id', 'bigint'],
    ['kind', 'kind', 'code'],
    ['status', 'status', 'code'],
    ['amount', 'amount', 'money'],
    ['currency', 'currency', 'varchar'],
    ['created_at', 'created_at', 'timestamp'],
], keep=['refund_id', 'order_id']) }}
