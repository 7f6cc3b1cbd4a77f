{{ config(materialized='incremental', unique_key='email_normalized', incremental_strategy='delete+insert',
          on_schema_change='append_new_columns') }}

{#- Email -> Shopify customer id, the link that gives helpdesk and subscription customers their
    customer_key. Shopify's own customer record wins over Recharge's external id.
    Cheap to compute whole (about 1.5 M customers at large); an incremental build writes only the emails
    whose link changed, stamped `changed_load_id`, so the ledger rebuilds only the orders of those emails.
    An email that lost its link stays as a row with a null shopify_customer_id: joined, it says what no row says. -#}
with links as (
    select lower(trim(email)) as email_normalized, shopify_customer_id, 1 as source_rank
    from {{ ref('stg_shopify__customers') }}
    where email is not null
    union all
    select lower(trim(email)), shopify_customer_id, 2
    from {{ ref('stg_recharge__customers') }}
    where email is not null and shopify_customer_id is not null
),

linked as (
    select email_normalized, shopify_customer_id
    from (
        select *, row_number() over (partition by email_normalized order by source_rank, shopify_customer_id) as rank_in_email
        from links
    ) as ranked
    where rank_in_email = 1
),

stamp as (
    select {{ newest_load_id([ref('stg_shopify__customers'), ref('stg_recharge__customers')]) }} as load_id
)

{% if rebuilds_changes_only('changed_load_id') -%}
select
    coalesce(l.email_normalized, before.email_normalized) as email_normalized,
    l.shopify_customer_id,
    (select load_id from stamp) as changed_load_id
from linked as l
full outer join {{ this }} as before on before.email_normalized = l.email_normalized
where l.shopify_customer_id is distinct from before.shopify_customer_id
{%- else -%}
select email_normalized, shopify_customer_id, (select load_id from stamp) as changed_load_id
from linked
{%- endif %}
