{{ config(materialized='lean_view') }}

select order_id, code_position, discount_code.code, load_id
from (
    select order_id, load_id, {{ list_elements('discount_codes', 'discount_code', 'code_position') }}
    from {{ ref('stg_shopify__orders') }}
) as codes
