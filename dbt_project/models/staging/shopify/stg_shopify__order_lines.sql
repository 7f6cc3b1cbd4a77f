{{ config(materialized='incremental', incremental_strategy='append',
          post_hook="{{ delete_superseded_children('stg_shopify__orders', 'order_id') }}") }}

with lines as (
    select order_id, load_id, {{ json_each('line_items_json', alias='line', position='line_position') }}
    from ({{ rows_since_last_run(ref('stg_shopify__orders')) }}) as orders
)

{{ unpack_json('lines', 'line', [
    ['line_item_id', 'id', 'bigint'],
    ['sku', 'sku', 'varchar'],
    ['title', 'title', 'varchar'],
    ['quantity', 'quantity', 'integer'],
    ['price', 'price', 'money'],
    ['total_discount', 'total_discount', 'money'],
], keep=['order_id', 'line_position', 'load_id']) }}
