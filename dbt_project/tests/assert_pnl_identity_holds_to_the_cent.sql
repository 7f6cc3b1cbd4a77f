{#- §8: net_contribution = gross_profit + claims - costs - refund/replacement charge, to the cent, on
    every row of the computed and the published P&L; gross_profit = revenue lines - COGS. -#}
{%- for model in ['int_pnl_monthly_computed', 'cs_pnl_monthly_wide'] %}
select '{{ model }}' as model, month, net_contribution, gross_profit
from {{ ref(model) }}
where net_contribution <> gross_profit + carrier_claims_income - cost_staffing - cost_platform - cost_other
                          - refund_replacement_charge
   or gross_profit <> {% for c in campaigns() %}revenue_{{ c.key }} + {% endfor %}0 - cogs_attributed
   or is_profit_center <> (net_contribution > 0)
{% if not loop.last %}union all{% endif %}
{%- endfor %}
