{#- Does a comma-separated tag string (Shopify `tags`) contain `tag`? Case and spaces ignored. A substring test
    first, in a CASE so that only the few rows passing it are split (in an AND, every row was split). -#}
{% macro has_tag(tags, tag) -%}
    case when contains(lower({{ tags }}), lower('{{ tag }}'))
         then list_contains(list_transform(string_split({{ tags }}, ','), lambda t: lower(trim(t))), lower('{{ tag }}'))
         else false end
{%- endmacro %}

{#- A string that may hold a whole number -> bigint, else null. -#}
{% macro to_bigint_or_null(expr) -%} try_cast({{ expr }} as bigint) {%- endmacro %}

{#- One row per element of a list column -#}
{% macro unnest_list(list_column) -%} unnest({{ list_column }}) {%- endmacro %}

{#- Every column of the relation but these (DuckDB's star exclude). -#}
{% macro star_except(columns) -%} * exclude ({{ columns | join(', ') }}) {%- endmacro %}

{#- A list of strings as one string, joined by the separator. -#}
{% macro list_joined(list_column, separator) -%} array_to_string({{ list_column }}, '{{ separator }}') {%- endmacro %}

{#- A list of scalars as a list of one-field structs ({field: element}). -#}
{% macro list_as_structs(list_column, field) -%}
    list_transform({{ list_column }}, lambda _element: {'{{ field }}': _element})
{%- endmacro %}

{#- A CTE that several parts of a query read with their own filters: inlined into each (DuckDB would otherwise
    copy every row it selects first, before any reader's filter applies). -#}
{% macro inlined() -%} not materialized {%- endmacro %}
