{#- The lines of the monthly CS P&L (§8), in report order. Revenue lines follow the declared campaigns. -#}
{% macro pnl_lines() -%}
    {%- set lines = [] -%}
    {%- for c in campaigns() %}{% do lines.append('revenue_' ~ c.key) %}{% endfor -%}
    {%- do lines.extend(['cogs_attributed', 'gross_profit', 'carrier_claims_income', 'cost_staffing', 'cost_platform',
                         'cost_other', 'refund_replacement_charge', 'net_contribution']) -%}
    {{ return(lines) }}
{%- endmacro %}
