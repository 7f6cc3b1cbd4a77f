{{ config(materialized='incremental', unique_key='gorgias_customer_id', incremental_strategy='delete+insert') }}

with source as ({{ raw_since_last_run('gorgias', 'customers') }})

{{ unpack_json('source', 'record', [
    ['gorgias_customer_id', 'id', 'bigint'],
    ['email', 'email', 'varchar'],
    ['name', 'name', 'varchar'],
    ['external_id', 'external_id', 'varchar'],
    ['created_at', 'created_datetime', 'timestamp'],
    ['updated_at', 'updated_datetime', 'timestamp'],
], keep=['extracted_at', 'load_id']) }}
