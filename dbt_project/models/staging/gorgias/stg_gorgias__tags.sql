{{ config(materialized='incremental', unique_key='tag_id', incremental_strategy='delete+insert') }}

with source as ({{ raw_since_last_run('gorgias', 'tags') }})

{{ unpack_json('source', 'record', [
    ['tag_id', 'id', 'bigint'],
    ['name', 'name', 'varchar'],
    ['usage', 'usage', 'bigint'],
    ['created_at', 'created_datetime', 'timestamp'],
    ['deleted_at', 'deleted_datetime', 'timestamp'],
], keep=['extracted_at', 'load_id']) }}
