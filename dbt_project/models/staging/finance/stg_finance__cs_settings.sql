select setting, value, valid_from, source_line from {{ source('finance', 'cs_settings') }}
