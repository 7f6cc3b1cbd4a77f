{{ config(materialized='incremental', unique_key='recharge_order_id', incremental_strategy='delete+insert',
          on_schema_change='append_new_columns') }}

{#- Recharge orders keep what a charge carried (its id, scheduled and processed times, the Shopify order) after
    the charge itself is hidden by the API's 90-day limit (§5 "Source history"), so renewals are rebuilt from
    them. `scheduled_at` is midnight UTC of the charge's scheduled date: its UTC date is that date. -#}
with source as ({{ raw_since_last_run('recharge', 'orders', needs=['charge_id']) }})  -- a table staged before charge_id: read all once

{{ unpack_json('source', 'record', [
    ['recharge_order_id', 'id', 'bigint'],
    ['charge_id', 'charge.id', 'bigint'],
    ['customer_email', 'customer.email', 'varchar'],
    ['shopify_customer_id', 'customer.external_customer_id.ecommerce', 'bigint'],
    ['order_type', 'type', 'code'],
    ['status', 'status', 'code'],
    ['scheduled_at', 'scheduled_at', 'timestamp'],
    ['processed_at', 'processed_at', 'timestamp'],
    ['shopify_order_id', 'external_order_id.ecommerce', 'bigint'],
    ['updated_at', 'updated_at', 'timestamp'],
], keep=['extracted_at', 'load_id']) }}
