select month, currency, rate_to_reporting, source_line from {{ source('finance', 'fx_rates') }}
