{{ config(materialized='incremental', unique_key='shipment_id', incremental_strategy='delete+insert',
          on_schema_change='fail') }}

{#- Shipment labels and the order they name (§2): the reference trimmed and `#` stripped (`#1042`, `1042` and
    the id all name an order), as the whole number it spells (order numbers and ids are integers: the ledger
    joins integers, not text; `01042` spells no number); a label costs when the shipment is production and its
    label was not refunded.
    The ledger finds the orders to rebuild through the labels of new loads (counted or not: a label refunded
    since must leave its order's cost), then reads those orders' labels by reference_number.
    A table, incremental on the shipments of later loads: as a view, every ledger build derived the reference of
    every shipment to match a few orders. A shipment's reference is set once (vendor-apis §4; the ledger
    leans on the same), so a later version never takes a shipment out of this table. -#}
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
    {%- if is_incremental() %}
      and {{ loaded_since_last_run() }}
    {%- endif %}
) as labels
