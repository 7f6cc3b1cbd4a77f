select sku, valid_from, unit_cost, currency, source_line from {{ source('finance', 'product_costs') }}
