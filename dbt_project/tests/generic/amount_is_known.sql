{#- §2: a SKU without a cost or a currency without an fx rate is a data-quality failure, never a zero.
    Fails with each row whose amount is unknown and `explain` (a SQL expression saying what is missing).
    A test on one model, so `dbt build` skips everything downstream of that model; the failing rows
    are kept in dq_failures.<test name> for whoever fixes the input. -#}
{% test amount_is_known(model, column_name, explain) %}
{{ config(store_failures=true, schema='dq_failures') }}
select {{ explain }} as problem, *
from {{ model }}
where {{ column_name }} is null
{% endtest %}
