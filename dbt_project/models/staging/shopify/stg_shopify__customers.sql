{{ config(materialized='incremental', unique_key='shopify_customer_id', incremental_strategy='delete+insert') }}

{#- The GraphQL customer as a bulk operation lands it; `legacyResourceId` is the id orders and Recharge name. -#}
with source as ({{ raw_since_last_run('shopify', 'customers') }})

{{ unpack_json('source', 'record', [
    ['shopify_customer_id', 'legacyResourceId', 'bigint'],
    ['email', 'email', 'varchar'],
    ['first_name', 'firstName', 'varchar'],
    ['last_name', 'lastName', 'varchar'],
    ['state', 'state', 'code'],
    ['created_at', 'createdAt', 'timestamp'],
    ['updated_at', 'updatedAt', 'timestamp'],
], keep=['extracted_at', 'load_id']) }}
