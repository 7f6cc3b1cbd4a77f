{#- One row per campaign touch (ticket x campaign): the drill-down behind contacted / replied. A touch is
    final the day after its window ends: no reply or conversion can count for it after that. -#}
select
    ticket_id,
    campaign,
    customer_key,
    agent_email,
    touch_at,
    {{ month_date('touch_month') }} as touch_month,
    replied,
    first_reply_at,
    window_ends_at,
    {{ finality_columns(add_days(local_date('window_ends_at'), 1)) }}
from {{ ref('int_campaign_touches_identified') }}
