{#- Every row satisfies a SQL condition; failing rows are returned whole. -#}
{% test expression_is_true(model, expression) %}
select * from {{ model }} where not ({{ expression }})
{% endtest %}
