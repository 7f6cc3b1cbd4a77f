{#- Does a comma-separated tag string (Shopify `tags`) contain `tag`? Case and spaces ignored. -#}
{% macro has_tag(tags, tag) -%}
    list_contains(list_transform(string_split(coalesce({{ tags }}, ''), ','), lambda t: lower(trim(t))), lower('{{ tag }}'))
{%- endmacro %}

{#- Does a list column contain a value? -#}
{% macro list_has(list_column, value) -%} list_contains({{ list_column }}, {{ value }}) {%- endmacro %}

{#- One row per element of a list column -#}
{% macro unnest_list(list_column) -%} unnest({{ list_column }}) {%- endmacro %}
