{{ config(materialized='incremental', unique_key='recharge_order_id', incremental_strategy='delete+insert') }}

with source as ({{ raw_since_last_run('recharge', 'orders') }})

{{ unpack_json('source', 'record', [
    ['recharge_order_id', 'id', 'bigint'],
    ['charge_id', 'charge.id', 'bigint'],
    ['recharge_customer_id', 'customer.id', 'bigint'],
    ['shopify_customer_id', 'customer.external_customer_id.ecommerce', 'bigint'],
    ['order_type', 'type', 'code'],
    ['status', 'status', 'code'],
    ['shopify_order_id', 'external_order_id.ecommerce', 'bigint'],
    ['shopify_order_name', 'external_order_name.ecommerce', 'varchar'],
    ['scheduled_at', 'scheduled_at', 'timestamp'],
    ['processed_at', 'processed_at', 'timestamp'],
    ['total_price', 'total_price', 'money'],
    ['currency', 'currency', 'varchar'],
    ['created_at', 'created_at', 'timestamp'],
    ['updated_at', 'updated_at', 'timestamp'],
], keep=['extracted_at', 'load_id']) }}
