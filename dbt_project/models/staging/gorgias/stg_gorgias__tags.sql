with source as (select * from {{ source('gorgias', 'tags') }})

{{ unpack_json('source', 'record', [
    ['tag_id', 'id', 'bigint'],
    ['name', 'name', 'varchar'],
    ['usage', 'usage', 'bigint'],
    ['created_at', 'created_datetime', 'timestamp'],
    ['deleted_at', 'deleted_datetime', 'timestamp'],
], keep=['extracted_at']) }}
