{#- Renewals and their dunning outcome (§5): recurring charges scheduled on the renewal day. Failed
    when the first attempt errored; recovered by dunning when paid by the end of the local day
    renewal_day + dunning_days; otherwise the customer joins that month's win-back cohort. -#}
with renewals as (
    select
        c.*,
        {{ local_midnight('c.scheduled_on') }} as scheduled_at,
        {{ local_midnight(add_months('c.scheduled_on', 1)) }} as next_scheduled_at,
        {{ instant_before(local_midnight(add_days('c.scheduled_on', var('dunning_days') + 1))) }} as dunning_ends_at
    from {{ ref('stg_recharge__charges') }} as c
    where c.charge_type = 'recurring'
      and extract(day from c.scheduled_on) = {{ var('renewal_day_of_month') }}
),

outcomes as (
    select
        *,
        status = 'error' or (status = 'success' and charge_attempts > 1) as is_failed,
        coalesce(status = 'success' and processed_at <= dunning_ends_at, false) as is_paid_by_dunning_end
    from renewals
    where scheduled_at <= {{ as_of() }}
)

select
    o.charge_id,
    coalesce(cast(o.shopify_customer_id as varchar), cast(links.shopify_customer_id as varchar),
             lower(trim(o.customer_email))) as customer_key,
    {{ month_label('o.scheduled_on') }} as renewal_month,
    o.scheduled_on,
    o.scheduled_at,
    o.next_scheduled_at,
    o.dunning_ends_at,
    o.dunning_ends_at <= {{ as_of() }} as is_dunning_over,
    o.status,
    o.charge_attempts,
    o.processed_at,
    o.is_failed,
    o.is_failed and o.is_paid_by_dunning_end as is_recovered_by_dunning,
    o.is_failed and not o.is_paid_by_dunning_end as is_in_winback_cohort
from outcomes as o
left join {{ ref('int_customer_emails_linked') }} as links on links.email_normalized = lower(trim(o.customer_email))
