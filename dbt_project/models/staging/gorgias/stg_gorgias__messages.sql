{{ config(materialized='incremental', unique_key='message_id', incremental_strategy='delete+insert') }}

with source as ({{ raw_since_last_run('gorgias', 'messages') }})

{{ unpack_json('source', 'record', [
    ['message_id', 'id', 'bigint'],
    ['ticket_id', 'ticket_id', 'bigint'],
    ['is_from_agent', 'from_agent', 'boolean'],
    ['is_public', 'public', 'boolean'],
    ['channel', 'channel', 'varchar'],
    ['via', 'via', 'varchar'],
    ['rule_id', 'rule_id', 'bigint'],
    ['sender_id', 'sender.id', 'bigint'],
    ['sender_email', 'sender.email', 'varchar'],
    ['created_at', 'created_datetime', 'timestamp'],
    ['sent_at', 'sent_datetime', 'timestamp'],
    ['failed_at', 'failed_datetime', 'timestamp'],
], keep=['extracted_at', 'load_id']) }}
