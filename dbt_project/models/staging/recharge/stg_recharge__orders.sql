{{ config(materialized='incremental', unique_key='recharge_order_id', incremental_strategy='delete+insert') }}

with source as ({{ raw_since_last_run('recharge', 'orders') }})

{{ unpack_json('source', 'record', [
    ['recharge_order_id', 'id', 'bigint'],
    ['order_type', 'type', 'code'],
    ['status', 'status', 'code'],
    ['shopify_order_id', 'external_order_id.ecommerce', 'bigint'],
    ['updated_at', 'updated_at', 'timestamp'],
], keep=['extracted_at', 'load_id']) }}
