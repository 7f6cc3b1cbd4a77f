{#- §8: net_contribution = gross_profit + claims - costs - refund/replacement charge, to the cent, on
    every row; and gross_profit = revenue lines - COGS. Returns the rows that break it. -#}
select *
from {{ ref('cs_pnl_monthly_wide') }}
where net_contribution <> gross_profit + carrier_claims_income - cost_staffing - cost_platform - cost_other
                          - refund_replacement_charge
   or gross_profit <> {% for c in campaigns() %}revenue_{{ c.key }} + {% endfor %}0 - cogs_attributed
   or is_profit_center <> (net_contribution > 0)
