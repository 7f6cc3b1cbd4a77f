{#- One row per agent email: the Gorgias user, and the coupon codes finance maps to the agent. -#}
with users as (
    select lower(trim(email)) as agent_email, min(user_id) as gorgias_user_id, min(name) as name,
           min(role) as role, {{ dbt.bool_or('is_active') }} as is_active
    from {{ ref('stg_gorgias__users') }}
    where email is not null
    group by 1
),

coupons as (
    select agent_email, {{ dbt.listagg('code', "', '", 'order by code') }} as coupon_codes
    from (select distinct agent_email, code from {{ ref('stg_finance__agent_coupons') }}) as distinct_codes
    group by agent_email
)

select
    coalesce(u.agent_email, c.agent_email) as agent_email,
    u.gorgias_user_id,
    u.name,
    u.role,
    coalesce(u.is_active, false) as is_active,
    c.coupon_codes,
    false as is_final,  -- a dimension follows its systems: it can change any day
    cast(null as date) as final_on
from users as u
full outer join coupons as c on c.agent_email = u.agent_email
