{#- The refund/replacement share in effect per month (§6, §11): the latest cs_settings value whose
    valid_from is on or before the month's first day, else var refund_share_default. -#}
with settings as (
    select value, valid_from from {{ ref('stg_finance__cs_settings') }} where setting = 'refund_share'
),

ranked as (
    select
        m.month,
        s.value,
        row_number() over (partition by m.month order by s.valid_from desc) as rn
    from {{ ref('int_months_spanned') }} as m
    left join settings as s on s.valid_from <= {{ month_start('m.month') }}
)

select month, coalesce(value, cast({{ var('refund_share_default') }} as decimal(9, 6))) as refund_share
from ranked
where rn = 1
