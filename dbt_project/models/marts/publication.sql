{#- Which version of the marts this is, readable in SQL (a reader cannot see manifest.json): one row.
    published_at stays null here; pipeline/publish.py sets it in the published copy. -#}
with months as (select * from {{ ref('publication_months') }})

select
    cast(null as timestamp with time zone) as published_at,
    {{ as_of() }} as as_of,
    '{{ var("rule_version") }}' as rule_version,
    '{{ var("reporting_currency") }}' as reporting_currency,
    (select count(*) from months where status = 'closed') as months_closed,
    (select count(*) from months where status = 'open') as months_open,
    not coalesce((select {{ dbt.bool_or('not source_history_complete') }} from months), false) as source_history_complete
