{{ config(materialized='incremental', unique_key='shipment_id', incremental_strategy='delete+insert') }}

with source as ({{ raw_since_last_run('easypost', 'shipments') }})

{{ unpack_json('source', 'record', [
    ['shipment_id', 'id', 'varchar'],
    ['mode', 'mode', 'code'],
    ['reference', 'reference', 'varchar'],
    ['status', 'status', 'code'],
    ['tracking_code', 'tracking_code', 'varchar'],
    ['carrier', 'selected_rate.carrier', 'varchar'],
    ['service', 'selected_rate.service', 'varchar'],
    ['label_rate', 'selected_rate.rate', 'money'],
    ['label_currency', 'selected_rate.currency', 'varchar'],
    ['refund_status', 'refund_status', 'code'],
    ['is_return', 'is_return', 'boolean'],
    ['created_at', 'created_at', 'timestamp'],
    ['updated_at', 'updated_at', 'timestamp'],
], keep=['extracted_at', 'load_id']) }}
