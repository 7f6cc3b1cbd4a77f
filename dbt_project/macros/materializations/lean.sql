{#- Lean materializations for the layers only dbt reads: staging views (`lean_view`) and intermediate tables
    (`lean_table`), configured per layer in dbt_project.yml. Marts keep dbt-duckdb's `table` (enforced contracts,
    persist_docs, the foreign-key and index handling of published tables).

    One statement inside the node's transaction, `create or replace ... as`, then COMMIT. dbt-duckdb's `table` and
    dbt's `view` build `<name>__dbt_tmp`, look up indexes (and foreign keys), rename the old relation to
    `__dbt_backup`, rename the new one into place, commit and drop the backup: four more round trips and a
    materialization's Jinja per node, for cases these layers never have. A failing statement leaves the previous
    relation as it was: DuckDB replaces it only when the statement succeeds, and the transaction is rolled back.

    What the lean ones do not implement they refuse at compile (`lean_unsupported_config`), so a model cannot
    silently lose a contract, comments, grants, indexes or constraints by being put in one of these layers. -#}

{% materialization lean_table, adapter='duckdb', supported_languages=['sql'] %}
  {{ return(lean_build('table')) }}
{% endmaterialization %}

{% materialization lean_view, adapter='duckdb', supported_languages=['sql'] %}
  {{ return(lean_build('view')) }}
{% endmaterialization %}

{#- The one body of both: `create or replace <kind> ... as` between the hooks, inside the node's transaction. -#}
{% macro lean_build(kind) -%}
  {%- do lean_refuse_unsupported_config('lean_' ~ kind) -%}
  {%- set target_relation = this.incorporate(type=kind) -%}
  {{ run_hooks(pre_hooks, inside_transaction=False) }}
  {{ run_hooks(pre_hooks, inside_transaction=True) }}
  {%- do lean_drop_if_other_type(load_cached_relation(this), kind) -%}
  {% call statement('main') -%}
    {{ lean_sql_header() }}
    create or replace {{ kind }} {{ target_relation }} as (
      {{ compiled_code }}
    );
  {%- endcall %}
  {{ run_hooks(post_hooks, inside_transaction=True) }}
  {% do adapter.commit() %}
  {{ run_hooks(post_hooks, inside_transaction=False) }}
  {{ return({'relations': [target_relation]}) }}
{%- endmacro %}

{#- A model moved between a view and a table: DuckDB's `create or replace` keeps the kind of object, so the old one
    is dropped first, inside the same transaction (rolled back with it if the build fails). -#}
{% macro lean_drop_if_other_type(existing_relation, relation_type) -%}
  {%- if existing_relation is not none and existing_relation.type != relation_type -%}
    {%- do adapter.ensure_transaction() -%}
    {%- do adapter.drop_relation(existing_relation) -%}
  {%- endif -%}
{%- endmacro %}

{% macro lean_sql_header() -%}
  {%- set sql_header = config.get('sql_header', none) -%}
  {{ sql_header if sql_header is not none }}
{%- endmacro %}

{% macro lean_unsupported_config() -%}
  {%- set unsupported = [] -%}
  {%- set contract = config.get('contract') -%}
  {%- if contract and contract.enforced -%}{%- do unsupported.append('an enforced contract') -%}{%- endif -%}
  {%- set docs = config.get('persist_docs') or {} -%}
  {%- if docs.get('relation') or docs.get('columns') -%}{%- do unsupported.append('persist_docs') -%}{%- endif -%}
  {%- if config.get('grants') -%}{%- do unsupported.append('grants') -%}{%- endif -%}
  {%- if config.get('indexes') -%}{%- do unsupported.append('indexes') -%}{%- endif -%}
  {%- if config.get('partitioned_by') or config.get('sorted_by') -%}{%- do unsupported.append('partitioned_by/sorted_by') -%}{%- endif -%}
  {%- for column in model.get('columns', {}).values() if column.get('constraints', []) | length > 0 -%}
    {%- if loop.first -%}{%- do unsupported.append('column constraints') -%}{%- endif -%}
  {%- endfor -%}
  {%- if model.get('constraints', []) | length > 0 -%}{%- do unsupported.append('model constraints') -%}{%- endif -%}
  {{ return(unsupported) }}
{%- endmacro %}

{% macro lean_refuse_unsupported_config(materialization) -%}
  {%- set unsupported = lean_unsupported_config() -%}
  {%- if unsupported -%}
    {%- do exceptions.raise_compiler_error(
      materialization ~ " does not implement " ~ unsupported | join(", ") ~ " (model " ~ model.name
      ~ "): materialize it as table or view, as the marts are") -%}
  {%- endif -%}
{%- endmacro %}
