{{ config(materialized='lean_view') }}

{#- Renewals and their dunning outcome as of the run's instant (§5): recurring charges scheduled on the
    renewal day, up to as_of. Failed when the first attempt errored; recovered by dunning when paid by
    the end of dunning; otherwise the customer joins that month's win-back cohort. A view over
    int_renewals_scheduled, which holds every as_of-free fact. -#}
select
    charge_id,
    customer_key,
    renewal_month,
    scheduled_on,
    scheduled_at,
    next_scheduled_at,
    dunning_ends_at,
    dunning_ends_at <= {{ as_of() }} as is_dunning_over,
    status,
    charge_attempts,
    processed_at,
    is_failed,
    is_failed and is_paid_by_dunning_end as is_recovered_by_dunning,
    is_failed and not is_paid_by_dunning_end as is_in_winback_cohort
from {{ ref('int_renewals_scheduled') }}
where is_on_renewal_day and scheduled_at <= {{ as_of() }}
