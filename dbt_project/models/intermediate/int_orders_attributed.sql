{#- The winning attribution per order (§4): the first campaign in attribution_priority among the
    order's candidates; within one campaign the latest qualifying touch (last touch). -#}
select order_id, campaign, priority, touch_ticket_id, touch_at, touch_month, agent_email
from (
    select
        *,
        row_number() over (
            partition by order_id order by priority, touch_at desc nulls last, touch_ticket_id desc nulls last
        ) as rn
    from {{ ref('int_attribution_candidates_qualified') }}
) as ranked
where rn = 1
