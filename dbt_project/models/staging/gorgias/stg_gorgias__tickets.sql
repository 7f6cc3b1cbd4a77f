{{ config(materialized='incremental', unique_key='ticket_id', incremental_strategy='delete+insert') }}

with source as ({{ raw_since_last_run('gorgias', 'tickets') }}),

unpacked as (
{{ unpack_json('source', 'record', [
    ['ticket_id', 'id', 'bigint'],
    ['customer_id', 'customer.id', 'bigint'],
    ['customer_email', 'customer.email', 'varchar'],
    ['assignee_user_id', 'assignee_user.id', 'bigint'],
    ['status', 'status', 'code'],
    ['channel', 'channel', 'varchar'],
    ['subject', 'subject', 'varchar'],
    ['is_spam', 'spam', 'boolean'],
    ['trashed_at', 'trashed_datetime', 'timestamp'],
    ['created_at', 'created_datetime', 'timestamp'],
    ['updated_at', 'updated_datetime', 'timestamp'],
    ['closed_at', 'closed_datetime', 'timestamp'],
    ['tags', 'tags', [['name', 'name', 'varchar']]],
], keep=['extracted_at', 'load_id']) }}
)

select
    ticket_id, customer_id, customer_email, assignee_user_id, status, channel, subject, is_spam,
    trashed_at, created_at, updated_at, closed_at, extracted_at, load_id,
    {{ list_of_trimmed('tags', 'name') }} as tag_names
from unpacked
