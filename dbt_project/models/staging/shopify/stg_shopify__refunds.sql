{{ config(materialized='incremental', incremental_strategy='append',
          post_hook="{{ delete_superseded_children('stg_shopify__orders', 'order_id') }}") }}

with refunds as (
    select order_id as parent_order_id, load_id, {{ json_each('refunds_json', alias='refund') }}
    from ({{ rows_since_last_run(ref('stg_shopify__orders')) }}) as orders
)

{{ unpack_json('refunds', 'refund', [
    ['refund_id', 'id', 'bigint'],
    ['created_at', 'created_at', 'timestamp'],
    ['processed_at', 'processed_at', 'timestamp'],
    ['note', 'note', 'varchar'],
    ['transactions_json', 'transactions', 'json'],
], keep=['parent_order_id as order_id', 'load_id']) }}
