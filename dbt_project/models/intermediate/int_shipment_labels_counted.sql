{{ config(materialized='lean_view') }}

{#- Shipment labels and the order they name (§2): the reference trimmed and `#` stripped (`#1042`, `1042` and
    the id all name an order), as the whole number it spells (order numbers and ids are integers: the ledger
    joins integers, not text; `01042` spells no number); a label costs when the shipment is production and its
    label was not refunded.
    A view: the ledger reads only the labels of the orders it rebuilds, and finds those orders through
    the labels of new loads (counted or not: a label refunded since must leave its order's cost). -#}
select
    shipment_id,
    order_reference,
    case when cast({{ to_bigint_or_null('order_reference') }} as varchar) = order_reference
         then {{ to_bigint_or_null('order_reference') }} end as reference_number,
    is_counted,
    label_rate,
    label_currency,
    load_id
from (
    select
        *,
        ltrim(trim(reference), '#') as order_reference,
        mode = 'production' and coalesce(refund_status, '') <> 'refunded' as is_counted
    from {{ ref('stg_easypost__shipments') }}
    where reference is not null
) as labels
