{{ config(materialized='incremental', unique_key='survey_id', incremental_strategy='delete+insert') }}

with source as ({{ raw_since_last_run('gorgias', 'satisfaction_surveys') }})

{{ unpack_json('source', 'record', [
    ['survey_id', 'id', 'bigint'],
    ['ticket_id', 'ticket_id', 'bigint'],
    ['gorgias_customer_id', 'customer_id', 'bigint'],
    ['score', 'score', 'integer'],
    ['created_at', 'created_datetime', 'timestamp'],
    ['sent_at', 'sent_datetime', 'timestamp'],
    ['scored_at', 'scored_datetime', 'timestamp'],
], keep=['extracted_at', 'load_id']) }}
