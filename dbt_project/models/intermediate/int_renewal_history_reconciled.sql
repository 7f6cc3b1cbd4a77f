{#- Source history (§5): per store-local month, the Shopify renewal orders created in it that no renewal the
    warehouse holds or rebuilt accounts for. Recharge hides a paid charge 90 days after payment; its Recharge
    order rebuilds it; where both are gone, the Shopify order is still there, tagged by Recharge (var
    renewal_order_tag), and a month with such an order is not complete: its renewals, cohort and win-back revenue
    miss what that renewal carried. Dunning ends within the renewal's month, so an order paid by dunning counts
    in its renewal's month; a late win-back payment counts in the month it was paid (where its revenue is). -#}
with renewal_orders as (  -- the ledger holds every non-test order
    select order_id, order_month from {{ ref('int_orders_enriched') }} where has_renewal_order_tag
),

accounted as (
    select shopify_order_id as order_id from {{ ref('int_renewals_scheduled') }} where shopify_order_id is not null
),

unaccounted as (
    select r.order_month as month, count(*) as renewal_orders_unaccounted
    from renewal_orders as r
    where not exists (select 1 from accounted as a where a.order_id = r.order_id)
    group by r.order_month
),

months as (
    select month from {{ ref('int_months_spanned') }}
    union
    select month from unaccounted
)

select
    m.month,
    coalesce(u.renewal_orders_unaccounted, 0) as renewal_orders_unaccounted,
    u.month is null as source_history_complete
from months as m
left join unaccounted as u on u.month = m.month
