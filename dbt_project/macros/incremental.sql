{#- Incremental staging: re-read only raw rows extracted since the newest one already staged, minus a
    lookback (late loads of older extracts). Raw keeps one version per key, so a merge by key is exact. -#}
{% macro extracted_since_last_run(column='extracted_at') -%}
    {%- if is_incremental() -%}
    where {{ column }} > (select coalesce(max({{ column }}), cast('1970-01-01' as timestamptz)) from {{ this }})
                         - to_hours(cast({{ var('incremental_lookback_hours') }} as integer))
    {%- endif -%}
{%- endmacro %}

{#- The raw rows an incremental staging model reads: all of them on a full refresh, else those
    extracted since its last run (minus the lookback). -#}
{% macro raw_since_last_run(source_name, table_name) -%}
    select * from {{ source(source_name, table_name) }}
    {{ extracted_since_last_run() }}
{%- endmacro %}
