with source as (select * from {{ source('recharge', 'customers') }})

{{ unpack_json('source', 'record', [
    ['recharge_customer_id', 'id', 'bigint'],
    ['email', 'email', 'varchar'],
    ['shopify_customer_id', 'external_customer_id.ecommerce', 'bigint'],
    ['created_at', 'created_at', 'timestamp'],
    ['updated_at', 'updated_at', 'timestamp'],
], keep=['extracted_at']) }}
