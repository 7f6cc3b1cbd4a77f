{{ config(materialized='incremental', unique_key='charge_id', incremental_strategy='delete+insert',
          on_schema_change='append_new_columns') }}

{#- Every recurring Recharge charge with its renewal facts (§5), whatever the as_of: scheduled on the renewal day
    or not, local midnight of that day and of the next month's, the end of dunning (the last instant of the
    local day renewal_day + dunning_days), failed (the first attempt errored) and paid by the end of dunning.
    int_renewals_dunned reads it as of an instant.
    Source history (§5): the API hides a charge 90 days after it was paid, so a first backfill misses older paid
    charges. Where the warehouse holds no charge, a successful renewal is rebuilt from its Recharge order (same
    charge id, scheduled and processed times, Shopify order); a charge the warehouse holds always wins. A rebuilt
    renewal paid after its renewal day counts as failed (an order keeps no attempt count, and a first attempt
    that succeeds is paid that day), then recovered if paid by the end of dunning.
    Incremental like the ledger: a build rebuilds the charges of new loads and those whose email's link
    changed; a change of a setting these facts depend on rebuilds every charge. Every recurring charge is
    kept, not only the renewal day's, so a charge moved off that day replaces its row. -#}
{#- a table from before the source-history columns rebuilds every charge once -#}
{%- set changes_only = rebuilds_changes_only() and rebuilds_changes_only('is_rebuilt_from_order') %}

with links as (select * from {{ ref('int_customer_emails_linked') }}),

rules as (
    select hash('{{ var("store_timezone") }}', {{ var('renewal_day_of_month') }}, {{ var('dunning_days') }}) as fingerprint
),

inputs as (select {{ newest_input_load_id([ref('stg_recharge__charges'), ref('stg_recharge__orders')]) }} as load_id),

{% if changes_only -%}
since as (select {{ last_built_load_id() }} as load_id),

changed_charges as (
    select charge_id from {{ ref('stg_recharge__charges') }}
    where load_id > (select load_id from since)
       or exists (select 1 from {{ this }} where rules_fingerprint is distinct from (select fingerprint from rules))
    union
    select charge_id from {{ ref('stg_recharge__orders') }}
    where load_id > (select load_id from since) and order_type = 'recurring' and charge_id is not null
    union
    select r.charge_id from {{ this }} as r
    inner join links on links.email_normalized = r.customer_email
    where links.changed_load_id > (select load_id from since)
),
{%- endif %}

held_charges as (
    select
        charge_id, customer_email, shopify_customer_id, status, scheduled_on, processed_at, charge_attempts,
        shopify_order_id, false as is_rebuilt_from_order
    from {{ ref('stg_recharge__charges') }}
    where charge_type = 'recurring'
    {%- if changes_only %}
      and charge_id in (select charge_id from changed_charges)
    {%- endif %}
),

-- one successful Recharge order per charge the warehouse does not hold (a prepaid charge may make several: the
-- first one stands for the renewal)
rebuilt_charges as (
    select
        charge_id, customer_email, shopify_customer_id, status, scheduled_on, processed_at, charge_attempts,
        shopify_order_id, true as is_rebuilt_from_order
    from (
        select
            o.charge_id,
            o.customer_email,
            o.shopify_customer_id,
            o.status,
            {{ utc_date('o.scheduled_at') }} as scheduled_on,
            o.processed_at,
            cast(null as integer) as charge_attempts,
            o.shopify_order_id,
            row_number() over (partition by o.charge_id order by o.processed_at, o.recharge_order_id) as rn
        from {{ ref('stg_recharge__orders') }} as o
        where o.order_type = 'recurring' and o.status = 'success' and o.charge_id is not null
          and not exists (select 1 from {{ ref('stg_recharge__charges') }} as c where c.charge_id = o.charge_id)
        {%- if changes_only %}
          and o.charge_id in (select charge_id from changed_charges)
        {%- endif %}
    ) as ranked
    where rn = 1
),

charges as (
    select *, lower(trim(customer_email)) as customer_email_normalized
    from (select * from held_charges union all select * from rebuilt_charges) as known
),

-- the calendar facts of each scheduled day, once per day (a few hundred dates), not once per charge: time zone
-- arithmetic on millions of charges was most of this model's time
scheduled_days as (
    select
        scheduled_on,
        {{ month_label('scheduled_on') }} as renewal_month,
        extract(day from scheduled_on) = {{ var('renewal_day_of_month') }} as is_on_renewal_day,
        {{ local_midnight('scheduled_on') }} as scheduled_at,
        {{ instant_before(local_midnight(add_days('scheduled_on', 1))) }} as renewal_day_ends_at,
        {{ local_midnight(add_months('scheduled_on', 1)) }} as next_scheduled_at,
        {{ instant_before(local_midnight(add_days('scheduled_on', var('dunning_days') + 1))) }} as dunning_ends_at
    from (select distinct scheduled_on from charges) as days
),

scheduled as (
    select
        c.*, d.renewal_month, d.is_on_renewal_day, d.scheduled_at, d.renewal_day_ends_at, d.next_scheduled_at,
        d.dunning_ends_at
    from charges as c
    left join scheduled_days as d on d.scheduled_on = c.scheduled_on
)

select
    s.charge_id,
    coalesce(cast(s.shopify_customer_id as varchar), cast(links.shopify_customer_id as varchar),
             s.customer_email_normalized) as customer_key,
    s.customer_email_normalized as customer_email,
    s.renewal_month,
    s.scheduled_on,
    s.is_on_renewal_day,
    s.scheduled_at,
    s.next_scheduled_at,
    s.dunning_ends_at,
    s.status,
    s.charge_attempts,
    s.processed_at,
    s.shopify_order_id,
    s.is_rebuilt_from_order,
    case when s.is_rebuilt_from_order then s.processed_at > s.renewal_day_ends_at
         else s.status = 'error' or (s.status = 'success' and s.charge_attempts > 1) end as is_failed,
    coalesce(s.status = 'success' and s.processed_at <= s.dunning_ends_at, false) as is_paid_by_dunning_end,
    (select load_id from inputs) as inputs_load_id,
    (select fingerprint from rules) as rules_fingerprint
from scheduled as s
left join links on links.email_normalized = s.customer_email_normalized
