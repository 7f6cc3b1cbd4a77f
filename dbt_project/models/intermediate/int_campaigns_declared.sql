{#- The campaign declarations (var `campaigns`, in `attribution_priority` order) as a relation. -#}
{%- set declared = campaigns() %}
select *
from (values
    {%- for c in declared %}
    ({{ sql_string(c.key) }}, {{ sql_string(c.kind) }}, {{ sql_string(c.tag) }}, {{ c.window_days | int }},
     {{ 'true' if c.reply_required else 'false' }}, {{ sql_string(c.eligible_orders) }}, {{ c.priority }},
     cast({{ c.control_share if c.control_share is not none else 'null' }} as decimal(7, 6)), {{ sql_string(c.control_salt) }}){{ "," if not loop.last }}
    {%- endfor %}
) as declared (campaign, kind, tag, window_days, reply_required, eligible_orders, priority, control_share, control_salt)
