{#- Carrier claims (§7) by month, carrier and claim type (int_carrier_claims_grouped, which the P&L sums). A row
    is final once its month is over and none of its claims is still pending: a pending claim moves to the month
    of its decision, a day nobody knows yet. -#}
with grouped as (
    select
        {{ month_date('month') }} as month,
        carrier,
        claim_type,
        claims_submitted,
        claims_approved,
        claims_rejected,
        claims_pending,
        amount_requested,
        amount_approved
    from {{ ref('int_carrier_claims_grouped') }}
)

select
    *,
    {{ finality_columns("case when claims_pending = 0 then " ~ add_months('month', 1) ~ " end") }}
from grouped
