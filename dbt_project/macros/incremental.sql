{#- The raw rows an incremental staging model reads: all of them on a full refresh, else only those loaded
    since its last run. Every load stamps the rows it writes with an increasing `load_id` (ingest/load.py),
    so no lookback is needed: a late load of an old extract still gets a new load_id. Raw keeps one version
    per key, so a merge by key is exact. A staging table from before load_id re-reads everything once. -#}
{% macro raw_since_last_run(source_name, table_name) -%}
    select * from {{ source(source_name, table_name) }}
    {%- if is_incremental() and 'load_id' in (adapter.get_columns_in_relation(this) | map(attribute='name') | list) %}
    where load_id > (select coalesce(max(load_id), 0) from {{ this }})
    {%- endif %}
{%- endmacro %}
