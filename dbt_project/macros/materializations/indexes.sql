{#- dbt-duckdb's `table` and `incremental` materializations look up a table's indexes (`duckdb_indexes()`) before
    each rename and after each commit, to drop them (DuckDB refuses to rename or drop a table an index depends on):
    one to two queries per mart and per fully refreshed incremental model. An index on a model's table comes only
    from a model's `indexes` config (dbt's `create_indexes`), and no model of this project declares one, so there
    is nothing to find. When any model declares indexes, dbt-duckdb's lookup runs again, for every table. -#}
{% macro drop_indexes_on_relation(relation) -%}
  {%- if project_declares_indexes() -%}
    {%- do dbt.drop_indexes_on_relation(relation) -%}
  {%- endif -%}
{%- endmacro %}

{% macro project_declares_indexes() -%}
  {%- for node in graph.nodes.values() if node.resource_type == 'model' and node.config.get('indexes') -%}
    {{ return(true) }}
  {%- endfor -%}
  {{ return(false) }}
{%- endmacro %}
