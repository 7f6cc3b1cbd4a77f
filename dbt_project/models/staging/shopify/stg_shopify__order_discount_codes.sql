with codes as (
    select order_id, {{ json_each('discount_codes_json', alias='discount_code', position='code_position') }}
    from {{ ref('stg_shopify__orders') }}
)

{{ unpack_json('codes', 'discount_code', [
    ['code', 'code', 'varchar'],
    ['amount', 'amount', 'money'],
    ['discount_type', 'type', 'varchar'],
], keep=['order_id', 'code_position']) }}
