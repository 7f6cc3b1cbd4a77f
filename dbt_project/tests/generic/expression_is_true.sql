{#- dbt_utils.expression_is_true under its name, with a subset of its arguments (DECISIONLOG, Transform):
    every row satisfies a SQL condition; failing rows are returned whole. -#}
{% test expression_is_true(model, expression) %}
select * from {{ model }} where not ({{ expression }})
{% endtest %}
