{#- Does a comma-separated tag string (Shopify `tags`) contain `tag`? Case and spaces ignored. -#}
{% macro has_tag(tags, tag) -%}
    list_contains(list_transform(string_split(coalesce({{ tags }}, ''), ','), lambda t: lower(trim(t))), lower('{{ tag }}'))
{%- endmacro %}

{#- A string that may hold a whole number -> bigint, else null. -#}
{% macro to_bigint_or_null(expr) -%} try_cast({{ expr }} as bigint) {%- endmacro %}

{#- One row per element of a list column -#}
{% macro unnest_list(list_column) -%} unnest({{ list_column }}) {%- endmacro %}
