{{ config(materialized='incremental', unique_key='user_id', incremental_strategy='delete+insert') }}

with source as ({{ raw_since_last_run('gorgias', 'users') }})

{{ unpack_json('source', 'record', [
    ['user_id', 'id', 'bigint'],
    ['email', 'email', 'varchar'],
    ['name', 'name', 'varchar'],
    ['role', 'role.name', 'varchar'],
    ['is_active', 'active', 'boolean'],
    ['created_at', 'created_datetime', 'timestamp'],
    ['updated_at', 'updated_datetime', 'timestamp'],
], keep=['extracted_at', 'load_id']) }}
