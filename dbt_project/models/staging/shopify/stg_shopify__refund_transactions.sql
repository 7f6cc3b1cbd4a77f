{{ config(materialized='incremental', incremental_strategy='append',
          post_hook="{{ delete_superseded_children('stg_shopify__orders', 'order_id') }}") }}

-- depends_on: {{ ref('stg_shopify__orders') }} (the post-hook's root)
with transactions as (
    select refund_id, order_id, load_id, {{ json_each('transactions_json', alias='txn') }}
    from ({{ rows_since_last_run(ref('stg_shopify__refunds')) }}) as refunds
)

{{ unpack_json('transactions', 'txn', [
    ['transaction_id', 'id', 'bigint'],
    ['kind', 'kind', 'code'],
    ['status', 'status', 'code'],
    ['amount', 'amount', 'money'],
    ['currency', 'currency', 'varchar'],
    ['created_at', 'created_at', 'timestamp'],
], keep=['refund_id', 'order_id', 'load_id']) }}
