{{ config(materialized='incremental', unique_key='charge_id', incremental_strategy='delete+insert') }}

with source as ({{ raw_since_last_run('recharge', 'charges') }})

{{ unpack_json('source', 'record', [
    ['charge_id', 'id', 'bigint'],
    ['customer_email', 'customer.email', 'varchar'],
    ['shopify_customer_id', 'customer.external_customer_id.ecommerce', 'bigint'],
    ['charge_type', 'type', 'code'],
    ['status', 'status', 'code'],
    ['scheduled_on', 'scheduled_at', 'date'],
    ['processed_at', 'processed_at', 'timestamp'],
    ['charge_attempts', 'charge_attempts', 'integer'],
    ['shopify_order_id', 'external_order_id.ecommerce', 'bigint'],
    ['updated_at', 'updated_at', 'timestamp'],
], keep=['extracted_at', 'load_id']) }}
