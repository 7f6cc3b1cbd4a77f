{#- The long P&L is the wide one unpivoted: same months, same amounts. -#}
{%- set lines = pnl_lines() %}
with wide_as_long as (
    {%- for line in lines %}
    select month, '{{ line }}' as line, {{ line }} as amount from {{ ref('cs_pnl_monthly_wide') }}
    {% if not loop.last %}union all{% endif %}
    {%- endfor %}
)

select coalesce(w.month, l.month) as month, coalesce(w.line, l.line) as line, w.amount as wide, l.amount as long
from wide_as_long as w
full outer join {{ ref('cs_pnl_monthly') }} as l on l.month = w.month and l.line = w.line
where w.amount is distinct from l.amount
