with lines as (
    select order_id, {{ json_each('line_items_json', alias='line', position='line_position') }}
    from {{ ref('stg_shopify__orders') }}
)

{{ unpack_json('lines', 'line', [
    ['line_item_id', 'id', 'bigint'],
    ['sku', 'sku', 'varchar'],
    ['title', 'title', 'varchar'],
    ['quantity', 'quantity', 'integer'],
    ['price', 'price', 'money'],
    ['total_discount', 'total_discount', 'money'],
], keep=['order_id', 'line_position']) }}
