{#- Campaign touches (§3): a ticket tagged with a declared campaign's tag, not spam or trashed, with
    a delivered public message from an agent (not a rule). One row per ticket and campaign: touch time
    and agent from the first such message; the customer by email; reply facts within the window. -#}
with campaigns as (
    select * from {{ ref('int_campaigns_declared') }} where kind = 'touch'
),

tickets as (
    select * from {{ ref('stg_gorgias__tickets') }}
    where not coalesce(is_spam, false) and trashed_at is null
),

ticket_tags as (  -- §3: a tag matches ignoring case and surrounding spaces (`CS-Winback` is cs-winback)
    select distinct ticket_id, lower(trim(tag_name)) as tag_name
    from (select ticket_id, {{ unnest_list('tag_names') }} as tag_name from tickets) as t
),

agent_messages as (
    select
        m.ticket_id,
        m.message_id,
        m.sent_at,
        m.sender_id,
        m.sender_email,
        row_number() over (partition by m.ticket_id order by m.sent_at, m.message_id) as rn
    from {{ ref('stg_gorgias__messages') }} as m
    where m.is_from_agent and m.is_public and coalesce(m.via, '') <> 'rule' and m.rule_id is null
      and m.failed_at is null and m.sent_at is not null
),

touches as (
    select
        t.ticket_id,
        c.campaign,
        c.window_days,
        first_message.sent_at as touch_at,
        lower(trim(coalesce(u.email, first_message.sender_email))) as agent_email,
        lower(trim(coalesce(gc.email, t.customer_email))) as customer_email
    from tickets as t
    inner join ticket_tags as tt on tt.ticket_id = t.ticket_id
    inner join campaigns as c on lower(trim(c.tag)) = tt.tag_name
    inner join agent_messages as first_message on first_message.ticket_id = t.ticket_id and first_message.rn = 1
    left join {{ ref('stg_gorgias__users') }} as u on u.user_id = first_message.sender_id
    left join {{ ref('stg_gorgias__customers') }} as gc on gc.gorgias_customer_id = t.customer_id
),

windowed as (
    select
        *,
        {{ add_interval_days('touch_at', 'window_days') }} as window_ends_at
    from touches
),

replies as (
    select
        w.ticket_id,
        w.campaign,
        min(r.replied_at) as first_reply_at,
        count(*) filter (where r.replied_at <= w.window_ends_at) as replies_in_window
    from windowed as w
    inner join {{ ref('int_ticket_replies_collected') }} as r on r.ticket_id = w.ticket_id and r.replied_at > w.touch_at
    group by w.ticket_id, w.campaign
)

select
    w.ticket_id,
    w.campaign,
    coalesce(cast(links.shopify_customer_id as varchar), w.customer_email) as customer_key,
    w.customer_email,
    w.agent_email,
    w.touch_at,
    {{ local_month('w.touch_at') }} as touch_month,
    w.window_ends_at,
    coalesce(r.replies_in_window, 0) > 0 as replied,
    r.first_reply_at
from windowed as w
left join replies as r on r.ticket_id = w.ticket_id and r.campaign = w.campaign
left join {{ ref('int_customer_emails_linked') }} as links on links.email_normalized = w.customer_email
