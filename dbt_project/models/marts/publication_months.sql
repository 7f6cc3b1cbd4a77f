{#- The P&L months of this version and their status, for a reader who wants to know what is final. -#}
select
    month,
    case when is_closed then 'closed' else 'open' end as status,
    source_history_complete,
    rule_version,
    is_final,
    final_on
from {{ ref('cs_pnl_monthly_wide') }}
