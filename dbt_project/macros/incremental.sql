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

{#- The parent rows whose children an incremental child model (rows unpacked from a JSON array of the
    parent) has not unpacked yet: all on a full refresh, else those loaded after the newest child here.
    Every child carries its parent's load_id, so no child of these parents is here yet. -#}
{% macro parents_since_last_run(parent) -%}
    select * from {{ ref(parent) }}
    {%- if is_incremental() %}
    where load_id > (select coalesce(max(load_id), 0) from {{ this }})
    {%- endif %}
{%- endmacro %}

{#- Post-hook of a child model: delete the children of a superseded version of their root (the staging row
    `root` keyed by `key` now carries a newer load_id). That also clears the children a new version no
    longer has, which a merge by key cannot. -#}
{% macro delete_superseded_children(root, key) -%}
    {%- if is_incremental() -%}
    delete from {{ this }} as child using {{ ref(root) }} as parent
    where parent.{{ key }} = child.{{ key }} and parent.load_id > child.load_id
    {%- endif -%}
{%- endmacro %}
