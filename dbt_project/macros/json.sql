{#- Unpacking vendor JSON. The only place that knows the warehouse's JSON dialect (DuckDB here).

    columns: list of [name, json path, type]. The record is parsed once per row (a list extract),
    not once per column. Types: money -> decimal(18,2), timestamp -> UTC timestamptz, code -> trimmed lower-case
    varchar (statuses, types: some API versions send them upper case), json -> a nested object or array kept
    as JSON (from the same parse), the rest as written.
-#}
{% macro unpack_json(relation, json_column, columns, keep=[]) -%}
    {%- set paths = [] -%}
    {%- for c in columns %}{% do paths.append("'$." ~ c[1] ~ "'") %}{% endfor -%}
    select
        {%- for k in keep %}
        {{ k }},
        {%- endfor %}
        {%- for c in columns %}
        {{ typed('_fields[' ~ loop.index ~ ']', c[2]) }} as {{ c[0] }}{{ "," if not loop.last }}
        {%- endfor %}
    from (select *, json_extract_string({{ json_column }}, [{{ paths | join(', ') }}]) as _fields from {{ relation }}) as _unpacked
{%- endmacro %}

{% macro typed(expr, type) -%}
    {%- if type == 'money' -%} cast({{ expr }} as decimal(18, 2))
    {%- elif type == 'code' -%} lower(trim({{ expr }}))
    {%- elif type == 'timestamp' -%} {{ to_utc(expr) }}
    {%- elif type == 'boolean' -%} cast(case lower({{ expr }}) when '1' then 'true' when '0' then 'false' else lower({{ expr }}) end as boolean)
    {%- else -%} cast({{ expr }} as {{ type }})
    {%- endif -%}
{%- endmacro %}

{#- One row per element of a JSON array (at `path`, or the column itself), named `alias`, with its
    1-based position when `position` names a column: `select order_id, {{ json_each('codes_json', alias='code') }}` -#}
{% macro json_each(json_column, path=none, alias='element', position=none) -%}
    {%- set p = "'$." ~ path ~ "[*]'" if path else "'$[*]'" -%}
    unnest(json_extract({{ json_column }}, {{ p }})) as {{ alias }}
    {%- if position %}, unnest(generate_series(1, len(json_extract({{ json_column }}, {{ p }})))) as {{ position }}{% endif %}
{%- endmacro %}

{#- A JSON array of objects -> list of one field's strings, trimmed (e.g. the names of a ticket's tags). -#}
{% macro json_string_list(json_column, path) -%}
    list_transform(json_extract_string({{ json_column }}, '$.{{ path }}'), lambda t: trim(t))
{%- endmacro %}
