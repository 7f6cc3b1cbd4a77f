{{ config(materialized='incremental', unique_key='shipment_id', incremental_strategy='delete+insert') }}

with source as ({{ raw_since_last_run('easypost', 'shipments') }})

{{ unpack_json('source', 'record', [
    ['shipment_id', 'id', 'varchar'],
    ['mode', 'mode', 'code'],
    ['reference', 'reference', 'varchar'],
    ['carrier', 'selected_rate.carrier', 'varchar'],
    ['label_rate', 'selected_rate.rate', 'money'],
    ['label_currency', 'selected_rate.currency', 'varchar'],
    ['refund_status', 'refund_status', 'code'],
    ['updated_at', 'updated_at', 'timestamp'],
], keep=['extracted_at', 'load_id']) }}
