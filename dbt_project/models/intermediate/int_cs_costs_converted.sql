{#- CS costs (finance input) per month and type, each row converted at its month's rate, to the cent. -#}
select
    c.month,
    c.cost_type,
    c.source_line,
    c.currency,
    c.amount as amount_original,
    fx.rate_to_reporting as fx_rate,
    {{ to_reporting('c.amount', 'c.currency', 'fx.rate_to_reporting') }} as amount
from {{ ref('stg_finance__cs_costs') }} as c
left join {{ ref('stg_finance__fx_rates') }} as fx on fx.month = c.month and fx.currency = c.currency
