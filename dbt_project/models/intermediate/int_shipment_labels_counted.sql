{{ config(materialized='view') }}

{#- Shipment labels and the order they name (§2): the reference trimmed and `#` stripped (`#1042`, `1042` and
    the id all name an order); a label costs when the shipment is production and its label was not refunded.
    A view: the ledger reads only the labels of the orders it rebuilds, and finds those orders through
    the labels of new loads (counted or not: a label refunded since must leave its order's cost). -#}
select
    shipment_id,
    ltrim(trim(reference), '#') as order_reference,
    mode = 'production' and coalesce(refund_status, '') <> 'refunded' as is_counted,
    label_rate,
    label_currency,
    load_id
from {{ ref('stg_easypost__shipments') }}
where reference is not null
