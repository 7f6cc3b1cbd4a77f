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
        {%- set share = c.get('control_share') -%}
        {#- §12: a control group is a share with at most 6 decimals (compared exactly with the hash) and its salt -#}
        {%- if share is not none and (c.kind != 'touch' or not modules.re.match('^0(\\.\\d{1,6})?$', share | string)
                                      or not c.get('control_salt')) -%}
            {{ exceptions.raise_compiler_error("campaign '" ~ key ~ "': control_share must be a decimal in [0, 1) with at most 6 decimals, on a touch campaign, with a control_salt") }}
        {%- endif -%}
        {%- do out.append({'key': key, 'kind': c.kind, 'tag': c.get('tag'), 'window_days': c.get('window_days', 0),
                           'reply_required': c.get('reply_required', false), 'eligible_orders': c.eligible_orders,
                           'priority': loop.index, 'control_share': share, 'control_salt': c.get('control_salt')}) -%}
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

{#- §12: a customer's place in a campaign's control group, by a stated, stable hash: the first 8 bytes of
    SHA-256 of 'campaign|customer_key|salt' (UTF-8) as an unsigned integer h; control when h / 2^64 < share,
    compared exactly as h * 10^6 < share * 10^6 * 2^64 (a share has at most 6 decimals). The same function in
    Python: sandbox/holdout.py (a test checks both agree). -#}
{% macro control_hash(campaign, customer_key, salt) -%}
    substr(sha256({{ campaign }} || '|' || {{ customer_key }} || '|' || {{ salt }}), 1, 16)
{%- endmacro %}

{% macro is_in_control(hash_hex, share) -%}
    (cast(cast('0x' || {{ hash_hex }} as ubigint) as hugeint) * 1000000
     < cast({{ share }} * 1000000 as hugeint) * cast('18446744073709551616' as hugeint))
{%- endmacro %}
