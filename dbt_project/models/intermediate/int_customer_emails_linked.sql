{#- Email -> Shopify customer id, the link that gives helpdesk and subscription customers their
    customer_key. Shopify's own customer record wins over Recharge's external id. -#}
with links as (
    select lower(trim(email)) as email_normalized, shopify_customer_id, 1 as source_rank
    from {{ ref('stg_shopify__customers') }}
    where email is not null
    union all
    select lower(trim(email)), shopify_customer_id, 2
    from {{ ref('stg_recharge__customers') }}
    where email is not null and shopify_customer_id is not null
),

ranked as (
    select *, row_number() over (partition by email_normalized order by source_rank, shopify_customer_id) as rn
    from links
)

select email_normalized, shopify_customer_id from ranked where rn = 1
