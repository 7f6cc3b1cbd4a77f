{#- The monthly CS P&L in long form: one row per month and line (§8), lines in report order; closed
    months frozen as in cs_pnl_monthly_wide. -#}
{%- set lines = pnl_lines() %}
{%- for line in lines %}
select month, {{ loop.index }} as line_order, '{{ line }}' as line, {{ line }} as amount,
    source_history_complete, is_closed, closed_at,
    rule_version, incremental_net_contribution, incremental_net_contribution_low, incremental_net_contribution_high,
    is_final, final_on
from {{ ref('cs_pnl_monthly_wide') }}
{% if not loop.last %}union all{% endif %}
{%- endfor %}
