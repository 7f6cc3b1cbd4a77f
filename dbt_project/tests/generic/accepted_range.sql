{#- dbt_utils.accepted_range, same name and arguments (dbt_utils cannot be installed here: DECISIONLOG, Transform):
    values within [min_value, max_value], bounds exclusive with inclusive=false; nulls pass. -#}
{% test accepted_range(model, column_name, min_value=none, max_value=none, inclusive=true) %}
select {{ column_name }} from {{ model }}
where false
{%- if min_value is not none %} or {{ column_name }} {{ '<' if inclusive else '<=' }} {{ min_value }}{% endif %}
{%- if max_value is not none %} or {{ column_name }} {{ '>' if inclusive else '>=' }} {{ max_value }}{% endif %}
{% endtest %}
