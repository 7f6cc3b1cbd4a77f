{#- Money is exact decimal. Rounding is half up (away from zero), to the cent unless said otherwise. -#}

{% macro cents(expr) -%} round({{ expr }}, 2) {%- endmacro %}

{#- An amount in `currency` -> reporting currency at `rate` (null when the rate is missing, which a
    data test turns into a failure: never a silent zero). Rounded to the cent per amount. -#}
{% macro to_reporting(amount, currency, rate) -%}
    case when {{ currency }} = '{{ var("reporting_currency") }}' then {{ amount }}
         else round({{ amount }} * {{ rate }}, 2) end
{%- endmacro %}

{#- num / den to 4 decimals, half up, exact (integer arithmetic; decimal division would go through a
    double). Null when den is 0. For counts (num >= 0). -#}
{% macro ratio(num, den) -%}
    case when {{ den }} > 0 then cast(((2 * 10000 * cast({{ num }} as hugeint) + {{ den }}) // (2 * {{ den }})) as decimal(18, 0)) * cast(0.0001 as decimal(5, 4)) end
{%- endmacro %}

{#- A money amount divided by a count, to the cent, half up, exact. Null when den is 0. -#}
{% macro money_per(amount, den) -%}
    case when {{ den }} > 0 then sign({{ amount }}) * cast((2 * abs(cast({{ amount }} * 100 as hugeint)) + {{ den }}) // (2 * {{ den }}) as decimal(18, 0)) * cast(0.01 as decimal(3, 2)) end
{%- endmacro %}

{#- A signed exact quotient num / den (den > 0) to `places` decimals, half up (away from zero), by integer
    arithmetic. Null when den is 0. -#}
{% macro exact_quotient(num, den, places) -%}
    case when {{ den }} > 0 then sign(cast({{ num }} as hugeint))
        * cast((2 * {{ 10 ** places }} * abs(cast({{ num }} as hugeint)) + {{ den }}) // (2 * cast({{ den }} as hugeint)) as decimal(18, 0))
        * cast({{ '1' if places == 0 else '0.' ~ '0' * (places - 1) ~ '1' }} as decimal(18, {{ places }})) end
{%- endmacro %}
