{#- dbt_utils.unique_combination_of_columns under its name, with a subset of its arguments (DECISIONLOG,
    Transform): the columns together identify one row (a mart's grain). Fails with the duplicated keys. -#}
{% test unique_combination_of_columns(model, combination_of_columns) %}
select {{ combination_of_columns | join(', ') }}, count(*) as rows_with_this_key
from {{ model }}
group by {{ combination_of_columns | join(', ') }}
having count(*) > 1
{% endtest %}
