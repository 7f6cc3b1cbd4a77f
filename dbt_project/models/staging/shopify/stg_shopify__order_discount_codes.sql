{{ config(materialized='incremental', incremental_strategy='append',
          post_hook="{{ delete_superseded_children('stg_shopify__orders', 'order_id') }}") }}

with codes as (
    select order_id, load_id, {{ json_each('discount_codes_json', alias='discount_code', position='code_position') }}
    from ({{ rows_since_last_run(ref('stg_shopify__orders')) }}) as orders
)

{{ unpack_json('codes', 'discount_code', [
    ['code', 'code', 'varchar'],
    ['amount', 'amount', 'money'],
    ['discount_type', 'type', 'varchar'],
], keep=['order_id', 'code_position', 'load_id']) }}
