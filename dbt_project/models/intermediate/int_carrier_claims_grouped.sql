{#- Carrier claims (§7) by the month of their current status (store time zone), carrier and claim type.
    Approved and partially approved claims count as income for their approved amount; others count zero but
    are reported. Cancelled claims are in no month. The P&L sums it; carrier_claims_monthly publishes it. -#}
with claims as (
    select
        c.*,
        coalesce(s.carrier, 'unknown') as carrier,
        c.status in ('approved', 'approved_partial') as is_approved
    from {{ ref('stg_easypost__claims') }} as c
    left join {{ ref('stg_easypost__shipments') }} as s on s.shipment_id = c.shipment_id and s.mode = 'production'
    where c.mode = 'production' and c.status <> 'cancelled'
)

select
    {{ local_month('status_at') }} as month,
    carrier,
    claim_type,
    count(*) as claims_submitted,
    count(*) filter (where is_approved) as claims_approved,
    count(*) filter (where status = 'rejected') as claims_rejected,
    count(*) filter (where status in ('submitted', 'in_review')) as claims_pending,
    cast(coalesce(sum(requested_amount), 0) as decimal(18, 2)) as amount_requested,
    cast(coalesce(sum(approved_amount) filter (where is_approved), 0) as decimal(18, 2)) as amount_approved
from claims
group by 1, 2, 3
