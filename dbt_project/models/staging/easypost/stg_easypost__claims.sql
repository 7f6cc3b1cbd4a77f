{{ config(materialized='incremental', unique_key='claim_id', incremental_strategy='delete+insert') }}

with source as ({{ raw_since_last_run('easypost', 'claims') }})

{{ unpack_json('source', 'record', [
    ['claim_id', 'id', 'varchar'],
    ['mode', 'mode', 'code'],
    ['claim_type', 'type', 'code'],
    ['status', 'status', 'code'],
    ['status_detail', 'status_detail', 'varchar'],
    ['status_at', 'status_timestamp', 'timestamp'],
    ['requested_amount', 'requested_amount', 'money'],
    ['approved_amount', 'approved_amount', 'money'],
    ['insurance_amount', 'insurance_amount', 'money'],
    ['shipment_id', 'shipment_id', 'varchar'],
    ['tracking_code', 'tracking_code', 'varchar'],
    ['created_at', 'created_at', 'timestamp'],
    ['updated_at', 'updated_at', 'timestamp'],
], keep=['extracted_at', 'load_id']) }}
