{#- Every mart row says whether it can still change, in the same two columns everywhere:
    final_on = the first day (store-local) from which the row can no longer change: the end of the
    conversion, retention or dunning window, or the month's scheduled close; null when it waits on an
    event nobody can date (a claim still undecided, a close that is overdue, missing source history).
    is_final = that day has come (by the as_of instant) or, for the P&L, the month is closed. -#}

{#- The store-local date of as_of: the day the data describes. -#}
{% macro as_of_local_date() -%} cast({{ local_timestamp(as_of()) }} as date) {%- endmacro %}

{#- The two finality columns from a final_on expression (a date or null). -#}
{% macro finality_columns(final_on) -%}
    coalesce({{ final_on }} <= {{ as_of_local_date() }}, false) as is_final,
    {{ final_on }} as final_on
{%- endmacro %}

{#- The longest attribution window of the declared touch campaigns, in days: a touch's reply and its
    conversions are known once it has passed. -#}
{% macro longest_window_days() -%}
    {%- set days = [0] -%}
    {%- for c in campaigns() if c.kind == 'touch' %}{% do days.append(c.window_days | int) %}{% endfor -%}
    {{ return(days | max) }}
{%- endmacro %}

{#- The day month_date's month is closed on the month-end close schedule (var close_day_of_month of the next
    month: the month_end_close DAG's CLOSE_DAY_OF_MONTH), or null once that day has passed without a close:
    then the close waits on finance, and nobody can date it. -#}
{% macro scheduled_close(month_date) -%}
    case when {{ add_days(add_months(month_date, 1), var('close_day_of_month') | int - 1) }} > {{ as_of_local_date() }}
         then {{ add_days(add_months(month_date, 1), var('close_day_of_month') | int - 1) }} end
{%- endmacro %}
