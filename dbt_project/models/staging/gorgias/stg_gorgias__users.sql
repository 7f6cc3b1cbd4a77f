with source as (select * from {{ source('gorgias', 'users') }})

{{ unpack_json('source', 'record', [
    ['user_id', 'id', 'bigint'],
    ['email', 'email', 'varchar'],
    ['name', 'name', 'varchar'],
    ['role', 'role.name', 'varchar'],
    ['is_active', 'active', 'boolean'],
    ['created_at', 'created_datetime', 'timestamp'],
    ['updated_at', 'updated_datetime', 'timestamp'],
], keep=['extracted_at']) }}
