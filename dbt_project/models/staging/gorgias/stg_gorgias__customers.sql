with source as (select * from {{ source('gorgias', 'customers') }})

{{ unpack_json('source', 'record', [
    ['gorgias_customer_id', 'id', 'bigint'],
    ['email', 'email', 'varchar'],
    ['name', 'name', 'varchar'],
    ['external_id', 'external_id', 'varchar'],
    ['created_at', 'created_datetime', 'timestamp'],
    ['updated_at', 'updated_datetime', 'timestamp'],
], keep=['extracted_at']) }}
