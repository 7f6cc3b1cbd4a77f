{#- One row per campaign touch (ticket x campaign): the drill-down behind contacted / replied. -#}
select
    ticket_id,
    campaign,
    customer_key,
    agent_email,
    touch_at,
    touch_month,
    replied,
    first_reply_at,
    window_ends_at
from {{ ref('int_campaign_touches_identified') }}
