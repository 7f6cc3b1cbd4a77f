{{ config(materialized='incremental', unique_key='subscription_id', incremental_strategy='delete+insert') }}

with source as ({{ raw_since_last_run('recharge', 'subscriptions') }})

{{ unpack_json('source', 'record', [
    ['subscription_id', 'id', 'bigint'],
    ['recharge_customer_id', 'customer_id', 'bigint'],
    ['status', 'status', 'code'],
    ['price', 'price', 'money'],
    ['sku', 'sku', 'varchar'],
    ['cancelled_at', 'cancelled_at', 'timestamp'],
    ['cancellation_reason', 'cancellation_reason', 'varchar'],
    ['next_charge_scheduled_on', 'next_charge_scheduled_at', 'date'],
    ['is_max_retries_reached', 'max_retries_reached', 'boolean'],
    ['created_at', 'created_at', 'timestamp'],
    ['updated_at', 'updated_at', 'timestamp'],
], keep=['extracted_at', 'load_id']) }}
