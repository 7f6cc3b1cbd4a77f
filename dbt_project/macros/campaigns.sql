{#- Campaigns are declared in vars (dbt_project.yml: `campaigns`, `attribution_priority`). These
    macros turn the declaration into a list and a relation; models never name a campaign. -#}

{#- The declared campaigns, in attribution priority: list of dicts with key, kind, tag, ... -#}
{% macro campaigns() -%}
    {%- set declared = var('campaigns') -%}
    {%- set out = [] -%}
    {%- for key in var('attribution_priority') -%}
        {%- if key not in declared -%}
            {{ exceptions.raise_compiler_error("attribution_priority names '" ~ key ~ "', which is not declared in var campaigns") }}
        {%- endif -%}
        {%- set c = declared[key] -%}
        {%- if c.kind not in ('touch', 'coupon') or c.eligible_orders not in ('renewal', 'non_renewal', 'coupon') -%}
            {{ exceptions.raise_compiler_error("campaign '" ~ key ~ "': kind must be touch|coupon and eligible_orders renewal|non_renewal|coupon") }}
        {%- endif -%}
        {%- do out.append({'key': key, 'kind': c.kind, 'tag': c.get('tag'), 'window_days': c.get('window_days', 0),
                           'reply_required': c.get('reply_required', false), 'eligible_orders': c.eligible_orders,
                           'priority': loop.index}) -%}
    {%- endfor -%}
    {%- for key in declared if key not in var('attribution_priority') -%}
        {{ exceptions.raise_compiler_error("campaign '" ~ key ~ "' is declared but missing from attribution_priority") }}
    {%- endfor -%}
    {#- Tags match ignoring case and surrounding spaces (§3), so two declarations must differ beyond that -#}
    {%- set tags = {} -%}
    {%- for c in out if c.tag is not none -%}
        {%- set normalized = c.tag | trim | lower -%}
        {%- if normalized in tags -%}
            {{ exceptions.raise_compiler_error("campaigns '" ~ tags[normalized] ~ "' and '" ~ c.key ~ "' declare the same helpdesk tag '" ~ normalized ~ "' (tags match ignoring case and surrounding spaces)") }}
        {%- endif -%}
        {%- do tags.update({normalized: c.key}) -%}
    {%- endfor -%}
    {{ return(out) }}
{%- endmacro %}

{% macro sql_string(value) -%}
    {%- if value is none -%} cast(null as varchar) {%- else -%} '{{ value | replace("'", "''") }}' {%- endif -%}
{%- endmacro %}

{#- A customer across systems (business rules §2): the Shopify customer id where a link exists,
    else the lower-cased, trimmed email. -#}
{% macro customer_key(shopify_customer_id, email) -%}
    coalesce(cast({{ shopify_customer_id }} as varchar), lower(trim({{ email }})))
{%- endmacro %}
