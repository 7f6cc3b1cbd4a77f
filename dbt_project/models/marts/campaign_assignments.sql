{#- §12: who is held out of each campaign with a control group, refreshed every run so the CS team (or a
    helpdesk rule) knows whom not to contact. One row per campaign and eligible customer. A control customer
    touched anyway is flagged as contamination and stays in control (intention to treat). -#}
with assigned as (select * from {{ ref('int_campaign_assignments_made') }}),

dated as (
    select
        *,
        cast(date_trunc('month', {{ local_timestamp('eligible_at') }}) as date) as eligible_month,
        -- the window's last local day has passed: nothing in this row can change any more
        {{ add_days(local_date('window_ends_at'), 1) }} as final_on
    from assigned
)

select
    campaign,
    customer_key,
    assignment_group,
    eligible_at,
    eligible_month,
    window_ends_at,
    cast(control_share as decimal(7, 6)) as control_share,
    assignment_hash,
    first_touch_at,
    assignment_group = 'control' and first_touch_at is not null as is_contaminated,
    conversion_order_id is not null as is_converted,
    conversion_order_id,
    conversion_at,
    cast(conversion_margin as decimal(18, 2)) as conversion_margin,
    {{ local_date(as_of()) }} >= final_on as is_final,
    final_on
from dated
