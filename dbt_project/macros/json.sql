{#- Unpacking vendor JSON. The only place that knows the warehouse's JSON dialect (DuckDB here).

    columns: list of [name, json path, type]. The record is parsed once per row (one json_transform into the
    structure the paths describe), not once per column. Types: money -> decimal(18,2), timestamp -> UTC
    timestamptz, code -> trimmed lower-case varchar (statuses, types: some API versions send them upper case),
    gid -> the number ending a GraphQL global id (`gid://shopify/LineItem/42` -> 42), varchar[] -> a JSON list
    of strings, the rest as written. A type that is itself a list of [name, path, type] reads an array of objects into a
    list of typed structs (paths relative to each element), so child rows unnest without parsing JSON again.
-#}
{% macro unpack_json(relation, json_column, columns, keep=[]) -%}
    select
        {%- for k in keep %}
        {{ k }},
        {%- endfor %}
        {%- for c in columns %}
        {{ unpacked(json_field('_json', c[1]), c[2]) }} as {{ c[0] }}{{ "," if not loop.last }}
        {%- endfor %}
    from (
        select *, json_transform({{ json_column }}, '{{ tojson(json_structure(columns)) }}') as _json
        from {{ relation }}
    ) as _unpacked
{%- endmacro %}

{#- The json_transform structure of columns: nested objects for dotted paths, [element] for arrays -#}
{% macro json_structure(columns) -%}
    {%- set root = {} -%}
    {%- for c in columns -%}
        {%- set parts = c[1].split('.') -%}
        {%- set at = namespace(node=root) -%}
        {%- for p in parts[:-1] -%}
            {%- if p not in at.node %}{% do at.node.update({p: {}}) %}{% endif -%}
            {%- set at.node = at.node[p] -%}
        {%- endfor -%}
        {%- if c[2] == 'varchar[]' -%}
            {%- do at.node.update({parts[-1]: ['VARCHAR']}) -%}
        {%- elif c[2] is string -%}
            {%- do at.node.update({parts[-1]: 'VARCHAR'}) -%}
        {%- else -%}
            {%- do at.node.update({parts[-1]: [json_structure(c[2])]}) -%}
        {%- endif -%}
    {%- endfor -%}
    {{ return(root) }}
{%- endmacro %}

{% macro json_field(expr, path) -%}
    {{ expr }}{% for p in path.split('.') %}['{{ p }}']{% endfor %}
{%- endmacro %}

{% macro unpacked(expr, type, depth=1) -%}
    {%- if type is string -%} {{ typed(expr, type) }}
    {%- else -%}
    {%- set e = '_element' ~ depth -%}
    list_transform({{ expr }}, lambda {{ e }}: {
        {%- for c in type %}'{{ c[0] }}': {{ unpacked(json_field(e, c[1]), c[2], depth + 1) }}{{ ", " if not loop.last }}{% endfor -%}
    })
    {%- endif -%}
{%- endmacro %}

{% macro typed(expr, type) -%}
    {%- if type == 'money' -%} cast({{ expr }} as decimal(18, 2))
    {%- elif type == 'code' -%} lower(trim({{ expr }}))
    {%- elif type == 'gid' -%} cast(regexp_extract({{ expr }}, '/(\d+)$', 1) as bigint)
    {%- elif type == 'timestamp' -%} {{ to_utc(expr) }}
    {%- elif type == 'boolean' -%} cast(case lower({{ expr }}) when '1' then 'true' when '0' then 'false' else lower({{ expr }}) end as boolean)
    {%- else -%} cast({{ expr }} as {{ type }})
    {%- endif -%}
{%- endmacro %}

{#- One row per element of a list column (from unpack_json), named `alias`, with its 1-based position when
    `position` names a column: `select order_id, {{ list_elements('line_items', 'line', 'line_position') }} from orders`.
    In the select list, not a lateral `unnest ... with ordinality`, which DuckDB plans far slower. -#}
{% macro list_elements(list_column, alias, position=none) -%}
    unnest({{ list_column }}) as {{ alias }}
    {%- if position %}, unnest(generate_series(1, len({{ list_column }}))) as {{ position }}{% endif %}
{%- endmacro %}

{#- A list of structs (from unpack_json) -> the list of one field's strings, trimmed (e.g. a ticket's tag names) -#}
{% macro list_of_trimmed(list_column, field) -%}
    list_transform({{ list_column }}, lambda _element: trim(_element.{{ field }}))
{%- endmacro %}
