{{ config(materialized='incremental', unique_key='order_id', incremental_strategy='delete+insert') }}

{#- The revenue ledger, from the GraphQL order as a bulk operation lands it (refunds completed by ordinary
    queries: vendor-apis.md §3a). Child arrays (lines, discount codes, refunds with their transactions) are typed
    lists from the same single parse as the flat fields; the views beside this model unnest them, so children
    always match their order's current version and no JSON is parsed twice. The columns keep the meaning they had
    under REST: `legacyResourceId` is the numeric id Recharge and EasyPost name, money is shop money, statuses are
    lower case, tags a comma-separated string. -#}
with source as ({{ raw_since_last_run('shopify', 'orders') }}),

unpacked as (
{{ unpack_json('source', 'record', [
    ['order_id', 'legacyResourceId', 'bigint'],
    ['order_name', 'name', 'varchar'],
    ['order_number', 'number', 'bigint'],
    ['email', 'email', 'varchar'],
    ['customer_id', 'customer.legacyResourceId', 'bigint'],
    ['created_at', 'createdAt', 'timestamp'],
    ['updated_at', 'updatedAt', 'timestamp'],
    ['cancelled_at', 'cancelledAt', 'timestamp'],
    ['currency', 'currencyCode', 'varchar'],
    ['subtotal_price', 'subtotalPriceSet.shopMoney.amount', 'money'],
    ['is_test', 'test', 'boolean'],
    ['tag_list', 'tags', 'varchar[]'],
    ['line_items', 'lineItems', [
        ['line_item_id', 'id', 'gid'],
        ['sku', 'sku', 'varchar'],
        ['quantity', 'quantity', 'integer'],
    ]],
    ['code_list', 'discountCodes', 'varchar[]'],
    ['refunds', 'refunds', [
        ['refund_id', 'legacyResourceId', 'bigint'],
        ['created_at', 'createdAt', 'timestamp'],
        ['transactions', 'transactions.nodes', [
            ['transaction_id', 'id', 'gid'],
            ['kind', 'kind', 'code'],
            ['status', 'status', 'code'],
            ['amount', 'amountSet.shopMoney.amount', 'money'],
        ]],
        ['refund_line_items', 'refundLineItems.nodes', [
            ['line_item_id', 'lineItem.id', 'gid'],
            ['quantity', 'quantity', 'integer'],
            ['subtotal', 'subtotalSet.shopMoney.amount', 'money'],
        ]],
        ['order_adjustments', 'orderAdjustments.nodes', [
            ['adjustment_id', 'id', 'gid'],
            ['kind', 'reason', 'code'],
            ['amount', 'amountSet.shopMoney.amount', 'money'],
        ]],
    ]],
], keep=['extracted_at', 'load_id']) }}
)

select
    {{ star_except(['tag_list', 'code_list']) }},
    {{ list_joined('tag_list', ', ') }} as tags,
    {{ list_as_structs('code_list', 'code') }} as discount_codes
from unpacked
