select
    lower(trim(code)) as code_normalized,
    code,
    lower(trim(agent_email)) as agent_email,
    valid_from,
    valid_to,
    source_line
from {{ source('finance', 'agent_coupons') }}
