{#- The rows an incremental staging model reads from `relation` (a raw source, or a parent staging model
    whose JSON arrays a child model unpacks): all on a full refresh, else only those whose load_id is above
    the highest here. Every load stamps the rows it writes with an increasing `load_id` (ingest/load.py),
    so no lookback is needed: a late load of an old extract still gets a new load_id. Raw keeps one version
    per key, so a merge by key is exact; a child carries its parent's load_id, so none of the children of
    the parents read is here yet. A table from before load_id re-reads everything once. -#}
{% macro rows_since_last_run(relation) -%}
    select * from {{ relation }}
    {%- if is_incremental() and 'load_id' in (adapter.get_columns_in_relation(this) | map(attribute='name') | list) %}
    where load_id > (select coalesce(max(load_id), 0) from {{ this }})
    {%- endif %}
{%- endmacro %}

{% macro raw_since_last_run(source_name, table_name) -%}
    {{ rows_since_last_run(source(source_name, table_name)) }}
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
