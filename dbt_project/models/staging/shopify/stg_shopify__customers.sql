{{ config(materialized='incremental', unique_key='shopify_customer_id', incremental_strategy='delete+insert') }}

with source as ({{ raw_since_last_run('shopify', 'customers') }})

{{ unpack_json('source', 'record', [
    ['shopify_customer_id', 'id', 'bigint'],
    ['email', 'email', 'varchar'],
    ['first_name', 'first_name', 'varchar'],
    ['last_name', 'last_name', 'varchar'],
    ['state', 'state', 'code'],
    ['created_at', 'created_at', 'timestamp'],
    ['updated_at', 'updated_at', 'timestamp'],
], keep=['extracted_at', 'load_id']) }}
