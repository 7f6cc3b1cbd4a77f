{#- Customer replies (§3): public customer messages, at their sent time (else created). Internal
    notes are never replies. -#}
select
    m.ticket_id,
    m.message_id,
    coalesce(m.sent_at, m.created_at) as replied_at
from {{ ref('stg_gorgias__messages') }} as m
where not m.is_from_agent and m.is_public
