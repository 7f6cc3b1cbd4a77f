{{ config(materialized='incremental', unique_key='recharge_customer_id', incremental_strategy='delete+insert') }}

with source as ({{ raw_since_last_run('recharge', 'customers') }})

{{ unpack_json('source', 'record', [
    ['recharge_customer_id', 'id', 'bigint'],
    ['email', 'email', 'varchar'],
    ['shopify_customer_id', 'external_customer_id.ecommerce', 'bigint'],
    ['created_at', 'created_at', 'timestamp'],
    ['updated_at', 'updated_at', 'timestamp'],
], keep=['extracted_at', 'load_id']) }}
