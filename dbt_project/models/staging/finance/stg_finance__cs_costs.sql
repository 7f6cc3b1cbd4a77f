select month, cost_type, amount, currency, note, source_line from {{ source('finance', 'cs_costs') }}
