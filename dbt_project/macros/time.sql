{#- Time: every timestamp is UTC; calendar questions (month, local day) are asked in the store's zone. -#}

{#- A vendor timestamp string, with or without offset or microseconds, or a bare date -> UTC instant.
    The session time zone is UTC (profiles.yml), so an offset-less value is read as UTC. -#}
{% macro to_utc(expr) -%} cast({{ expr }} as timestamptz) {%- endmacro %}

{#- The store-local wall-clock time of an instant (a timestamp without zone). Convert once per row and derive
    the date and month from it: each conversion is a time zone lookup. -#}
{% macro local_timestamp(ts) -%} timezone('{{ var("store_timezone") }}', {{ ts }}) {%- endmacro %}

{#- The UTC calendar date of an instant (Recharge sends an order's scheduled date as midnight UTC of it) -#}
{% macro utc_date(ts) -%} cast(timezone('UTC', {{ ts }}) as date) {%- endmacro %}

{% macro local_date(ts) -%} cast({{ local_timestamp(ts) }} as date) {%- endmacro %}

{#- 'YYYY-MM' of the store-local calendar month of an instant -#}
{% macro local_month(ts) -%} {{ month_label(local_timestamp(ts)) }} {%- endmacro %}

{#- 'YYYY-MM' of a date or local timestamp -#}
{% macro month_label(date_expr) -%} strftime({{ date_expr }}, '%Y-%m') {%- endmacro %}

{#- The instant of local midnight at the start of a calendar date -#}
{% macro local_midnight(date_expr) -%}
    timezone('{{ var("store_timezone") }}', cast({{ date_expr }} as timestamp))
{%- endmacro %}

{% macro add_days(date_expr, days) -%} cast({{ date_expr }} + to_days(cast({{ days }} as integer)) as date) {%- endmacro %}

{% macro add_months(date_expr, months) -%} cast({{ date_expr }} + to_months(cast({{ months }} as integer)) as date) {%- endmacro %}

{#- First day of a 'YYYY-MM' month label -#}
{% macro month_start(month_label) -%} cast({{ month_label }} || '-01' as date) {%- endmacro %}

{#- Every 'YYYY-MM' label from the smallest to the largest label of a column (no gaps) -#}
{% macro month_labels_between(first_label, last_label) -%}
    select {{ month_label('m') }} as month
    from (select unnest(generate_series({{ month_start(first_label) }}, {{ month_start(last_label) }}, interval 1 month)) as m)
{%- endmacro %}

{#- The instant the data describes: var as_of (unit tests), else env DBT_AS_OF (the pipeline passes its run's
    instant this way: a changed var makes dbt re-parse the whole project), else now. The env var is read only
    when executing: read while parsing, dbt records it, and every run's new instant re-parsed the files using
    it and rewrote the manifest in each daily build. -#}
{#- The value is checked against ISO 8601 before it is spliced into SQL: var and env reach this macro without
    passing through the pipeline's Python parser (a quote in the value would otherwise end the literal). -#}
{% macro as_of() -%}
    {%- set instant = var('as_of', none) or (env_var('DBT_AS_OF', '') if execute else '') -%}
    {%- if instant | string not in ('', 'None') -%}
        {%- set iso = '^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?)?(Z|[+-]\d{2}(:?\d{2})?)?$' -%}
        {%- if not modules.re.match(iso, instant | string) -%}
            {{ exceptions.raise_compiler_error(
                "as_of (var as_of or env DBT_AS_OF) must be an ISO 8601 instant such as 2026-09-01T05:00:00Z") }}
        {%- endif -%}
        cast('{{ instant }}' as timestamptz)
    {%- else -%} current_timestamp
    {%- endif -%}
{%- endmacro %}

{#- The last microsecond before an instant (an inclusive end of a local day). -#}
{% macro instant_before(ts) -%} ({{ ts }} - interval 1 microsecond) {%- endmacro %}

{% macro add_interval_days(ts, days) -%} ({{ ts }} + to_days(cast({{ days }} as integer))) {%- endmacro %}

{#- Marts publish months as DATE, the first day of the month (BI tools take a DATE as a time column);
    the models below them keep 'YYYY-MM' labels. -#}
{% macro month_date(month_label) -%} cast({{ month_label }} || '-01' as date) {%- endmacro %}
