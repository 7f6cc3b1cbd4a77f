{{ config(materialized='incremental', unique_key='order_id', incremental_strategy='delete+insert') }}

{#- The revenue ledger. Child arrays (lines, discount codes, refunds with their transactions) are typed lists
    from the same single parse as the flat fields; the views beside this model unnest them, so children always
    match their order's current version and no JSON is parsed twice. -#}
with source as ({{ raw_since_last_run('shopify', 'orders') }})

{{ unpack_json('source', 'record', [
    ['order_id', 'id', 'bigint'],
    ['order_name', 'name', 'varchar'],
    ['order_number', 'order_number', 'bigint'],
    ['email', 'email', 'varchar'],
    ['customer_id', 'customer.id', 'bigint'],
    ['created_at', 'created_at', 'timestamp'],
    ['updated_at', 'updated_at', 'timestamp'],
    ['cancelled_at', 'cancelled_at', 'timestamp'],
    ['currency', 'currency', 'varchar'],
    ['subtotal_price', 'subtotal_price', 'money'],
    ['is_test', 'test', 'boolean'],
    ['tags', 'tags', 'varchar'],
    ['line_items', 'line_items', [
        ['line_item_id', 'id', 'bigint'],
        ['sku', 'sku', 'varchar'],
        ['quantity', 'quantity', 'integer'],
    ]],
    ['discount_codes', 'discount_codes', [
        ['code', 'code', 'varchar'],
    ]],
    ['refunds', 'refunds', [
        ['refund_id', 'id', 'bigint'],
        ['created_at', 'created_at', 'timestamp'],
        ['transactions', 'transactions', [
            ['transaction_id', 'id', 'bigint'],
            ['kind', 'kind', 'code'],
            ['status', 'status', 'code'],
            ['amount', 'amount', 'money'],
        ]],
        ['refund_line_items', 'refund_line_items', [
            ['line_item_id', 'line_item_id', 'bigint'],
            ['quantity', 'quantity', 'integer'],
            ['subtotal', 'subtotal_set.shop_money.amount', 'money'],
        ]],
        ['order_adjustments', 'order_adjustments', [
            ['adjustment_id', 'id', 'bigint'],
            ['kind', 'kind', 'code'],
            ['amount', 'amount', 'money'],
        ]],
    ]],
], keep=['extracted_at', 'load_id']) }}
