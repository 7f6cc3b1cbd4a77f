{#- The raw rows an incremental staging model reads: all on a full refresh, else only those whose load_id is
    above the highest here. Every load stamps the rows it writes with an increasing `load_id` (ingest/load.py),
    so no lookback is needed: a late load of an old extract still gets a new load_id. Raw keeps one version
    per key, so a merge by key is exact. A table from before load_id, or without a column named in `needs` (a
    column added since), re-reads everything once. -#}
{% macro raw_since_last_run(source_name, table_name, needs=[]) -%}
    select * from {{ source(source_name, table_name) }}
    {%- set have = adapter.get_columns_in_relation(this) | map(attribute='name') | list if is_incremental() else [] %}
    {%- if is_incremental() and (['load_id'] + needs) | reject('in', have) | list | length == 0 %}
    where {{ loaded_since_last_run() }}
    {%- endif %}
{%- endmacro %}

{#- The rows of loads after the newest this incremental model holds (load ids start at 1) -#}
{% macro loaded_since_last_run() -%}
    load_id > (select coalesce(max(load_id), 0) from {{ this }})
{%- endmacro %}

{#- Intermediate models that rebuild only the keys their inputs changed stamp every row they write with the
    newest load_id their inputs hold (`newest_load_id`). A key changed since the last build when an input row
    of it has a load_id above the highest stamp here (`last_built_load_id`). A full refresh, or a table
    from before the stamp, rebuilds every key (`rebuilds_changes_only()` is false). -#}
{% macro rebuilds_changes_only(stamp='inputs_load_id') -%}
    {{ return(is_incremental() and stamp in (adapter.get_columns_in_relation(this) | map(attribute='name') | list)) }}
{%- endmacro %}

{% macro last_built_load_id() -%}
    (select coalesce(max(inputs_load_id), -1) from {{ this }})
{%- endmacro %}

{#- The stamp of a model that also reads the email links: the newest load of its vendor inputs or of a link change -#}
{% macro newest_input_load_id(relations) -%}
    greatest({{ newest_load_id(relations) }}, (select max(changed_load_id) from {{ ref('int_customer_emails_linked') }}))
{%- endmacro %}

{% macro newest_load_id(relations) -%}
    greatest(
        {%- for r in relations %}
        (select max(load_id) from {{ r }}){{ "," if not loop.last }}
        {%- endfor %}
    )
{%- endmacro %}
