{{ config(materialized='incremental', unique_key='charge_id', incremental_strategy='delete+insert') }}

with source as ({{ raw_since_last_run('recharge', 'charges') }})

{{ unpack_json('source', 'record', [
    ['charge_id', 'id', 'bigint'],
    ['recharge_customer_id', 'customer.id', 'bigint'],
    ['customer_email', 'customer.email', 'varchar'],
    ['shopify_customer_id', 'customer.external_customer_id.ecommerce', 'bigint'],
    ['charge_type', 'type', 'code'],
    ['status', 'status', 'code'],
    ['scheduled_on', 'scheduled_at', 'date'],
    ['processed_at', 'processed_at', 'timestamp'],
    ['retry_on', 'retry_date', 'timestamp'],
    ['last_attempt_at', 'last_charge_attempt', 'timestamp'],
    ['charge_attempts', 'charge_attempts', 'integer'],
    ['error_type', 'error_type', 'varchar'],
    ['shopify_order_id', 'external_order_id.ecommerce', 'bigint'],
    ['subtotal_price', 'subtotal_price', 'money'],
    ['total_price', 'total_price', 'money'],
    ['currency', 'currency', 'varchar'],
    ['created_at', 'created_at', 'timestamp'],
    ['updated_at', 'updated_at', 'timestamp'],
], keep=['extracted_at', 'load_id']) }}
