-- The CS profit-center marts written by hand: the engine's limit the dbt build is measured against.
-- Reads the same raw tables as dbt_project (raw_shopify, raw_recharge, raw_gorgias, raw_easypost,
-- raw_finance, ops.cs_pnl_closed) and writes schema `hand`. Each raw JSON record is parsed once, for
-- only the fields a mart needs; intermediates are temp tables.
--
-- Settings mirror the vars of dbt_project/dbt_project.yml: campaigns and attribution_priority (the
-- `campaigns` table below), renewal_day_of_month 15, dunning_days 12, retained_revenue_days 90,
-- store_timezone America/Chicago, reporting_currency USD, replacement_tag replacement,
-- refund_share_default 0.10, rule_version v2 (a refund reverses revenue by its goods plus discrepancies).
-- as_of, the instant the data describes, comes from the runner (bench/hand_sql.py) as an ISO string:
-- SET VARIABLE as_of = '2026-09-01T05:00:00+00:00';

SET TimeZone = 'UTC';  -- vendor timestamps without an offset are UTC
CREATE SCHEMA IF NOT EXISTS hand;

CREATE OR REPLACE TEMP MACRO as_of() AS cast(getvariable('as_of') AS TIMESTAMPTZ);
CREATE OR REPLACE TEMP MACRO local_month(ts) AS strftime(timezone('America/Chicago', ts), '%Y-%m');
CREATE OR REPLACE TEMP MACRO local_midnight(d) AS timezone('America/Chicago', cast(d AS TIMESTAMP));
CREATE OR REPLACE TEMP MACRO code(s) AS lower(trim(s));
CREATE OR REPLACE TEMP MACRO json_bool(s) AS
    cast(CASE lower(s) WHEN '1' THEN 'true' WHEN '0' THEN 'false' ELSE lower(s) END AS BOOLEAN);
CREATE OR REPLACE TEMP MACRO usd(amount, currency, rate) AS
    CASE WHEN currency = 'USD' THEN amount ELSE round(amount * rate, 2) END;
-- Exact half-up rounding with integers: DuckDB divides decimals as doubles.
CREATE OR REPLACE TEMP MACRO ratio(num, den) AS
    CASE WHEN den > 0 THEN cast((20000 * cast(num AS HUGEINT) + den) // (2 * den) AS DECIMAL(18, 0)) * 0.0001 END;
CREATE OR REPLACE TEMP MACRO money_per(amount, den) AS
    CASE WHEN den > 0
         THEN sign(amount) * cast((2 * abs(cast(amount * 100 AS HUGEINT)) + den) // (2 * den) AS DECIMAL(18, 0)) * 0.01
    END;

CREATE OR REPLACE TEMP TABLE campaigns AS
SELECT * FROM (VALUES
    ('winback', 'touch', 'cs-winback', 14, false, 'renewal', 1, 0.10, 'winback-q1'),
    ('upsell', 'touch', 'cs-upsell-welcome', 7, true, 'non_renewal', 2, 0.10, 'welcome-q1'),
    ('coupon', 'coupon', NULL, 0, false, 'coupon', 3, NULL, NULL)
) AS c (campaign, kind, tag, window_days, reply_required, eligible_orders, priority, control_share, control_salt);

-- The month-end close's frozen rows are an input of the published P&L; dbt creates the table on run start.
CREATE SCHEMA IF NOT EXISTS ops;
CREATE TABLE IF NOT EXISTS ops.cs_pnl_closed (
    month VARCHAR NOT NULL, line VARCHAR NOT NULL, amount DECIMAL(18, 2) NOT NULL, closed_at TIMESTAMPTZ NOT NULL,
    rule_version VARCHAR NOT NULL, PRIMARY KEY (month, line)
);

------------------------------------------------------------------------------------------- parse
-- One parse per record: json_extract_string with a list of paths for flat fields (the fastest), or
-- json_transform where nested arrays are needed. A parse that is filtered on is MATERIALIZED: otherwise
-- the filter, pushed below the projection, parses every record a second time.
CREATE OR REPLACE TEMP TABLE orders AS
WITH parsed AS MATERIALIZED (
    -- Shopify's GraphQL order (a bulk operation's record, its refunds completed by ordinary queries)
    SELECT json_transform(record, '{"legacyResourceId": "VARCHAR", "name": "VARCHAR", "number": "VARCHAR",
        "email": "VARCHAR", "customer": {"legacyResourceId": "VARCHAR"}, "createdAt": "VARCHAR",
        "cancelledAt": "VARCHAR", "currencyCode": "VARCHAR", "subtotalPriceSet": {"shopMoney": {"amount": "VARCHAR"}},
        "test": "VARCHAR", "tags": ["VARCHAR"],
        "lineItems": [{"sku": "VARCHAR", "quantity": "VARCHAR"}], "discountCodes": ["VARCHAR"],
        "refunds": [{"legacyResourceId": "VARCHAR", "createdAt": "VARCHAR",
                     "transactions": {"nodes": [{"kind": "VARCHAR", "status": "VARCHAR",
                                                 "amountSet": {"shopMoney": {"amount": "VARCHAR"}}}]},
                     "refundLineItems": {"nodes": [{"subtotalSet": {"shopMoney": {"amount": "VARCHAR"}}}]},
                     "orderAdjustments": {"nodes": [{"reason": "VARCHAR",
                                                     "amountSet": {"shopMoney": {"amount": "VARCHAR"}}}]}}]}') AS j
    FROM raw_shopify.orders
),
typed AS (
    SELECT
        cast(j.legacyResourceId AS BIGINT) AS order_id,
        j.name AS order_name,
        cast(j.number AS BIGINT) AS order_number,
        j.email,
        cast(j.customer.legacyResourceId AS BIGINT) AS customer_id,
        cast(j.createdAt AS TIMESTAMPTZ) AS order_at,
        cast(j.cancelledAt AS TIMESTAMPTZ) AS cancelled_at,
        j.currencyCode AS currency,
        cast(j.subtotalPriceSet.shopMoney.amount AS DECIMAL(18, 2)) AS subtotal_price,
        array_to_string(j.tags, ',') AS tags,
        j.lineItems AS line_items,
        list_transform(j.discountCodes, lambda c: {'code': c}) AS discount_codes,
        j.refunds
    FROM parsed
    WHERE NOT coalesce(json_bool(j.test), false)
)
SELECT * EXCLUDE (local_at), cast(local_at AS DATE) AS order_date, strftime(local_at, '%Y-%m') AS order_month
FROM (SELECT *, timezone('America/Chicago', order_at) AS local_at FROM typed);

-- Recurring charges are all any mart needs from Recharge charges (renewals and renewal orders). Where the
-- warehouse holds no charge (the API hides one 90 days after payment), a successful one is rebuilt from its
-- Recharge order: the UTC date of its scheduled_at (midnight UTC), processed_at, the Shopify order (§5).
CREATE OR REPLACE TEMP TABLE charges AS
WITH parsed AS MATERIALIZED (
    SELECT json_extract_string(record, ['$.id', '$.type', '$.status', '$.customer.email',
        '$.customer.external_customer_id.ecommerce', '$.scheduled_at', '$.processed_at', '$.charge_attempts',
        '$.external_order_id.ecommerce']) AS f
    FROM raw_recharge.charges
)
SELECT
    cast(f[1] AS BIGINT) AS charge_id,
    f[4] AS customer_email,
    cast(f[5] AS BIGINT) AS shopify_customer_id,
    code(f[3]) AS status,
    cast(f[6] AS DATE) AS scheduled_on,
    cast(f[7] AS TIMESTAMPTZ) AS processed_at,
    cast(f[8] AS INTEGER) AS charge_attempts,
    cast(f[9] AS BIGINT) AS shopify_order_id,
    false AS is_rebuilt
FROM parsed
WHERE code(f[2]) = 'recurring';

INSERT INTO charges
WITH parsed AS MATERIALIZED (
    SELECT json_extract_string(record, ['$.id', '$.charge.id', '$.customer.email',
        '$.customer.external_customer_id.ecommerce', '$.type', '$.status', '$.scheduled_at', '$.processed_at',
        '$.external_order_id.ecommerce']) AS f
    FROM raw_recharge.orders
)
SELECT
    cast(f[2] AS BIGINT),
    arg_min(f[3], (cast(f[8] AS TIMESTAMPTZ), cast(f[1] AS BIGINT))),
    arg_min(cast(f[4] AS BIGINT), (cast(f[8] AS TIMESTAMPTZ), cast(f[1] AS BIGINT))),
    'success',
    arg_min(cast(cast(f[7] AS TIMESTAMPTZ) AS DATE), (cast(f[8] AS TIMESTAMPTZ), cast(f[1] AS BIGINT))),
    min(cast(f[8] AS TIMESTAMPTZ)),
    NULL,
    arg_min(cast(f[9] AS BIGINT), (cast(f[8] AS TIMESTAMPTZ), cast(f[1] AS BIGINT))),
    true
FROM parsed
WHERE code(f[5]) = 'recurring' AND code(f[6]) = 'success' AND f[2] IS NOT NULL
  AND cast(f[2] AS BIGINT) NOT IN (SELECT charge_id FROM charges)
GROUP BY cast(f[2] AS BIGINT);

-- Shopify orders created by a successful recurring charge (Recharge orders carry the same link and
-- outlive the charges' 90-day API limit).
CREATE OR REPLACE TEMP TABLE renewal_order_ids AS
WITH parsed AS MATERIALIZED (
    SELECT json_extract_string(record, ['$.type', '$.status', '$.external_order_id.ecommerce']) AS f
    FROM raw_recharge.orders
)
SELECT shopify_order_id FROM charges WHERE status = 'success' AND shopify_order_id IS NOT NULL
UNION
SELECT cast(f[3] AS BIGINT) FROM parsed WHERE code(f[1]) = 'recurring' AND code(f[2]) = 'success' AND f[3] IS NOT NULL;

CREATE OR REPLACE TEMP TABLE shopify_customers AS
SELECT cast(f[1] AS BIGINT) AS shopify_customer_id, f[2] AS email
FROM (SELECT json_extract_string(record, ['$.legacyResourceId', '$.email']) AS f FROM raw_shopify.customers);

CREATE OR REPLACE TEMP TABLE recharge_customers AS
SELECT cast(f[1] AS BIGINT) AS recharge_customer_id, f[2] AS email, cast(f[3] AS BIGINT) AS shopify_customer_id
FROM (
    SELECT json_extract_string(record, ['$.id', '$.email', '$.external_customer_id.ecommerce']) AS f
    FROM raw_recharge.customers
);

CREATE OR REPLACE TEMP TABLE gorgias_customers AS
SELECT cast(f[1] AS BIGINT) AS gorgias_customer_id, f[2] AS email
FROM (SELECT json_extract_string(record, ['$.id', '$.email']) AS f FROM raw_gorgias.customers);

CREATE OR REPLACE TEMP TABLE users AS
SELECT cast(f[1] AS BIGINT) AS user_id, f[2] AS email, f[3] AS name, f[4] AS role, json_bool(f[5]) AS is_active
FROM (
    SELECT json_extract_string(record, ['$.id', '$.email', '$.name', '$.role.name', '$.active']) AS f
    FROM raw_gorgias.users
);

-- Spam and trashed tickets are ignored everywhere.
CREATE OR REPLACE TEMP TABLE tickets AS
WITH parsed AS MATERIALIZED (
    SELECT json_transform(record, '{"id": "VARCHAR", "customer": {"id": "VARCHAR", "email": "VARCHAR"},
        "tags": [{"name": "VARCHAR"}], "spam": "VARCHAR", "trashed_datetime": "VARCHAR"}') AS j
    FROM raw_gorgias.tickets
)
SELECT
    cast(j.id AS BIGINT) AS ticket_id,
    cast(j.customer.id AS BIGINT) AS customer_id,
    j.customer.email AS customer_email,
    list_transform(j.tags, lambda t: trim(t.name)) AS tag_names
FROM parsed
WHERE NOT coalesce(json_bool(j.spam), false) AND j.trashed_datetime IS NULL;

-- Per ticket: the first delivered public message an agent (not a rule) sent, and every customer reply.
CREATE OR REPLACE TEMP TABLE ticket_messages AS
WITH parsed AS (
    SELECT json_extract_string(record, ['$.id', '$.ticket_id', '$.from_agent', '$.public', '$.via', '$.rule_id',
        '$.sender.id', '$.sender.email', '$.created_datetime', '$.sent_datetime', '$.failed_datetime']) AS f
    FROM raw_gorgias.messages
),
messages AS (
    SELECT
        cast(f[1] AS BIGINT) AS message_id,
        cast(f[2] AS BIGINT) AS ticket_id,
        json_bool(f[3]) AS is_from_agent,
        json_bool(f[4]) AS is_public,
        f[5] AS via,
        f[6] AS rule_id,
        cast(f[7] AS BIGINT) AS sender_id,
        f[8] AS sender_email,
        cast(f[9] AS TIMESTAMPTZ) AS created_at,
        cast(f[10] AS TIMESTAMPTZ) AS sent_at,
        f[11] AS failed_at
    FROM parsed
)
SELECT
    ticket_id,
    arg_min({'sent_at': sent_at, 'sender_id': sender_id, 'sender_email': sender_email}, (sent_at, message_id))
        FILTER (WHERE is_from_agent AND is_public AND coalesce(via, '') <> 'rule' AND rule_id IS NULL
                AND failed_at IS NULL AND sent_at IS NOT NULL) AS first_agent_message,
    list(coalesce(sent_at, created_at)) FILTER (WHERE NOT is_from_agent AND is_public) AS replies
FROM messages
GROUP BY ticket_id;

CREATE OR REPLACE TEMP TABLE shipments AS  -- production labels only: test labels are ignored everywhere
WITH parsed AS MATERIALIZED (
    SELECT json_extract_string(record, ['$.id', '$.mode', '$.reference', '$.refund_status', '$.selected_rate.carrier',
        '$.selected_rate.rate', '$.selected_rate.currency']) AS f
    FROM raw_easypost.shipments
)
SELECT
    f[1] AS shipment_id,
    f[3] AS reference,
    code(f[4]) AS refund_status,
    f[5] AS carrier,
    cast(f[6] AS DECIMAL(18, 2)) AS label_rate,
    f[7] AS label_currency
FROM parsed
WHERE code(f[2]) = 'production';

------------------------------------------------------------------------------------------- ledger
-- Email -> Shopify customer id: Shopify's own customer record first, Recharge's external id second.
CREATE OR REPLACE TEMP TABLE email_links AS
SELECT email_normalized, arg_min(shopify_customer_id, (source_rank, shopify_customer_id)) AS shopify_customer_id
FROM (
    SELECT lower(trim(email)) AS email_normalized, shopify_customer_id, 1 AS source_rank
    FROM shopify_customers WHERE email IS NOT NULL
    UNION ALL
    SELECT lower(trim(email)), shopify_customer_id, 2
    FROM recharge_customers WHERE email IS NOT NULL AND shopify_customer_id IS NOT NULL
)
GROUP BY email_normalized;

-- Every non-test order: customer, flags, net revenue and COGS (goods at the SKU cost in effect on the
-- order's local date, plus matched labels), in USD; a missing cost or rate leaves COGS null.
CREATE OR REPLACE TEMP TABLE ledger AS
WITH fx AS (SELECT month, currency, rate_to_reporting AS rate FROM raw_finance.fx_rates),
costs AS (  -- each SKU cost until the next one takes effect
    SELECT *, lead(valid_from) OVER (PARTITION BY sku ORDER BY valid_from) AS valid_to FROM raw_finance.product_costs
),
lines AS (
    SELECT o.order_id, o.order_date, o.order_month, li.sku, cast(li.quantity AS INTEGER) AS quantity
    FROM orders AS o, unnest(o.line_items) AS u(li)
),
goods AS (
    SELECT
        l.order_id,
        count(*) FILTER (WHERE c.unit_cost IS NULL OR (c.currency <> 'USD' AND fx.rate IS NULL)) AS unknown_lines,
        sum(l.quantity * CASE WHEN c.currency = 'USD' THEN c.unit_cost ELSE c.unit_cost * fx.rate END) AS goods_cost
    FROM lines AS l
    LEFT JOIN costs AS c
        ON c.sku = l.sku AND l.order_date >= c.valid_from AND (c.valid_to IS NULL OR l.order_date < c.valid_to)
    LEFT JOIN fx ON fx.month = l.order_month AND fx.currency = c.currency
    GROUP BY l.order_id
),
order_references AS (
    SELECT cast(order_number AS VARCHAR) AS reference, order_id, order_month FROM orders WHERE order_number IS NOT NULL
    UNION ALL
    SELECT cast(order_id AS VARCHAR), order_id, order_month FROM orders
),
label_groups AS (
    SELECT r.order_id, r.order_month, s.label_currency, sum(s.label_rate) AS label_cost_original
    FROM shipments AS s
    INNER JOIN order_references AS r ON r.reference = ltrim(trim(s.reference), '#')
    WHERE coalesce(s.refund_status, '') <> 'refunded'
    GROUP BY ALL
),
labels AS (
    SELECT
        g.order_id,
        count(*) FILTER (WHERE g.label_currency IS DISTINCT FROM 'USD' AND fx.rate IS NULL) AS unknown_currencies,
        sum(usd(g.label_cost_original, g.label_currency, fx.rate)) AS label_cost
    FROM label_groups AS g
    LEFT JOIN fx ON fx.month = g.order_month AND fx.currency = g.label_currency
    GROUP BY g.order_id
)
SELECT
    o.order_id,
    o.order_name,
    coalesce(cast(o.customer_id AS VARCHAR), cast(k.shopify_customer_id AS VARCHAR), lower(trim(o.email)))
        AS customer_key,
    lower(trim(o.email)) AS customer_email,
    o.order_at,
    o.order_date,
    o.order_month,
    o.cancelled_at IS NOT NULL AS is_cancelled,
    CASE WHEN contains(lower(o.tags), 'replacement')  -- cheap test first: few orders carry the tag
         THEN list_contains(list_transform(string_split(o.tags, ','), lambda t: lower(trim(t))), 'replacement')
         ELSE false END AS is_replacement,
    r.shopify_order_id IS NOT NULL AS is_renewal,
    o.currency,
    o.subtotal_price AS subtotal_original,
    usd(o.subtotal_price, o.currency, fx.rate) AS net_revenue,
    CASE WHEN coalesce(g.unknown_lines, 0) = 0 AND coalesce(lb.unknown_currencies, 0) = 0
         THEN round(coalesce(g.goods_cost, 0), 2) + coalesce(lb.label_cost, 0) END AS cogs
FROM orders AS o
LEFT JOIN fx ON fx.month = o.order_month AND fx.currency = o.currency
LEFT JOIN goods AS g ON g.order_id = o.order_id
LEFT JOIN labels AS lb ON lb.order_id = o.order_id
LEFT JOIN email_links AS k ON k.email_normalized = lower(trim(o.email))
LEFT JOIN renewal_order_ids AS r ON r.shopify_order_id = o.order_id;

-- Refunds, booked in the refund's month: what the customer got back (successful refund transactions, the
-- refund charge's base) and what leaves revenue (rule v2: goods pre-tax plus refund_discrepancy adjustments,
-- negative when money goes back; never tax or shipping).
CREATE OR REPLACE TEMP TABLE refunds AS
WITH unpacked AS (
    SELECT
        o.order_id,
        o.currency,
        cast(rf.legacyResourceId AS BIGINT) AS refund_id,
        cast(rf.createdAt AS TIMESTAMPTZ) AS refunded_at,
        list_sum(list_transform(
            list_filter(rf.transactions.nodes, lambda x: code(x.kind) = 'refund' AND code(x.status) = 'success'),
            lambda x: cast(x.amountSet.shopMoney.amount AS DECIMAL(18, 2)))) AS amount_original,
        coalesce(list_sum(list_transform(rf.refundLineItems.nodes,
            lambda x: cast(x.subtotalSet.shopMoney.amount AS DECIMAL(18, 2)))), 0)
        - coalesce(list_sum(list_transform(
            list_filter(rf.orderAdjustments.nodes, lambda x: code(x.reason) = 'refund_discrepancy'),
            lambda x: cast(x.amountSet.shopMoney.amount AS DECIMAL(18, 2)))), 0) AS reversal_original
    FROM orders AS o, unnest(o.refunds) AS u(rf)
)
SELECT
    u.refund_id,
    u.order_id,
    local_month(u.refunded_at) AS refund_month,
    u.currency,
    u.amount_original,
    usd(u.amount_original, u.currency, fx.rate_to_reporting) AS amount,
    u.reversal_original,
    usd(u.reversal_original, u.currency, fx.rate_to_reporting) AS reversal
FROM unpacked AS u
LEFT JOIN raw_finance.fx_rates AS fx ON fx.month = local_month(u.refunded_at) AND fx.currency = u.currency
WHERE u.amount_original <> 0;

-- Unknown amounts (a SKU without a cost, a currency without a rate) stop the script, as the
-- amount_is_known tests stop the dbt build.
SELECT CASE WHEN max(n) > 0 THEN error('unknown amounts (orders, refunds, CS costs): ' || string_agg(n, ', ')) END
FROM (
    SELECT count(*) AS n FROM ledger WHERE net_revenue IS NULL OR cogs IS NULL
    UNION ALL
    SELECT count(*) FROM refunds WHERE amount IS NULL
    UNION ALL
    SELECT count(*)
    FROM raw_finance.cs_costs AS c
    LEFT JOIN raw_finance.fx_rates AS fx ON fx.month = c.month AND fx.currency = c.currency
    WHERE c.currency <> 'USD' AND fx.rate_to_reporting IS NULL
);

------------------------------------------------------------------------------------------- touches
CREATE OR REPLACE TEMP TABLE touches AS
WITH touched AS (
    SELECT
        t.ticket_id,
        c.campaign,
        m.first_agent_message.sent_at AS touch_at,
        m.first_agent_message.sent_at + to_days(c.window_days) AS window_ends_at,
        lower(trim(coalesce(u.email, m.first_agent_message.sender_email))) AS agent_email,
        lower(trim(coalesce(gc.email, t.customer_email))) AS customer_email,
        m.replies
    FROM tickets AS t
    INNER JOIN campaigns AS c  -- a tag matches ignoring case and surrounding spaces
        ON c.kind = 'touch' AND list_contains(list_transform(t.tag_names, lambda x: lower(x)), lower(trim(c.tag)))
    INNER JOIN ticket_messages AS m ON m.ticket_id = t.ticket_id AND m.first_agent_message IS NOT NULL
    LEFT JOIN users AS u ON u.user_id = m.first_agent_message.sender_id
    LEFT JOIN gorgias_customers AS gc ON gc.gorgias_customer_id = t.customer_id
),
replied AS (
    SELECT * EXCLUDE (replies), list_min(list_filter(replies, lambda r: r > touch_at)) AS first_reply_at
    FROM touched
)
SELECT
    r.ticket_id,
    r.campaign,
    coalesce(cast(k.shopify_customer_id AS VARCHAR), r.customer_email) AS customer_key,
    r.customer_email,
    r.agent_email,
    r.touch_at,
    local_month(r.touch_at) AS touch_month,
    r.window_ends_at,
    coalesce(r.first_reply_at <= r.window_ends_at, false) AS replied,
    r.first_reply_at
FROM replied AS r
LEFT JOIN email_links AS k ON k.email_normalized = r.customer_email;

------------------------------------------------------------------------------------------- renewals
-- Renewals on the 15th up to as_of; failed when the first attempt errored; recovered when paid by the
-- end of the local day 15 + 12 (dunning); otherwise in the win-back cohort.
CREATE OR REPLACE TEMP TABLE renewals AS
WITH renewal_days AS (  -- time zone arithmetic once per renewal day, not per charge
    SELECT
        scheduled_on,
        local_midnight(scheduled_on) AS scheduled_at,
        local_midnight(cast(scheduled_on + to_months(1) AS DATE)) AS next_scheduled_at,
        local_midnight(cast(scheduled_on + to_days(13) AS DATE)) - INTERVAL 1 MICROSECOND AS dunning_ends_at
    FROM (SELECT DISTINCT scheduled_on FROM charges WHERE extract(day FROM scheduled_on) = 15)
    WHERE local_midnight(scheduled_on) <= as_of()
),
outcomes AS (
    SELECT
        c.*,
        d.scheduled_at,
        d.next_scheduled_at,
        d.dunning_ends_at,
        CASE WHEN c.is_rebuilt THEN c.processed_at >= local_midnight(cast(c.scheduled_on + to_days(1) AS DATE))
             ELSE c.status = 'error' OR (c.status = 'success' AND c.charge_attempts > 1) END AS is_failed,
        coalesce(c.status = 'success' AND c.processed_at <= d.dunning_ends_at, false) AS is_paid_by_dunning_end
    FROM charges AS c
    INNER JOIN renewal_days AS d USING (scheduled_on)
)
SELECT
    o.charge_id,
    coalesce(cast(o.shopify_customer_id AS VARCHAR), cast(k.shopify_customer_id AS VARCHAR),
             lower(trim(o.customer_email))) AS customer_key,
    strftime(o.scheduled_on, '%Y-%m') AS renewal_month,
    o.scheduled_at,
    o.next_scheduled_at,
    o.dunning_ends_at,
    o.dunning_ends_at <= as_of() AS is_dunning_over,
    o.is_failed,
    o.is_failed AND o.is_paid_by_dunning_end AS is_recovered_by_dunning,
    o.is_failed AND NOT o.is_paid_by_dunning_end AS is_in_winback_cohort
FROM outcomes AS o
LEFT JOIN email_links AS k ON k.email_normalized = lower(trim(o.customer_email));

------------------------------------------------------------------------------------------- attribution
-- Touch campaigns: an order of the touched customer after the touch, within the window, renewal or not
-- as declared; a reply before the order when required (the first reply after the touch decides);
-- renewal campaigns also need a cohort renewal before the touch and take only the customer's first
-- renewal order after it. Coupons: a mapped code valid on the order's local date. Then priority
-- between campaigns and the latest touch within one.
CREATE OR REPLACE TEMP TABLE attributed AS
WITH eligible AS (
    SELECT order_id, customer_key, order_at, order_date, order_month, is_renewal
    FROM ledger WHERE NOT is_cancelled AND NOT is_replacement
),
renewal_starts AS (  -- the first renewal order at each instant, per customer
    SELECT customer_key, order_at, min(order_id) AS order_id
    FROM ledger WHERE is_renewal AND NOT is_cancelled
    GROUP BY customer_key, order_at
),
cohort_since AS (
    SELECT customer_key, min(scheduled_at) AS first_cohort_renewal_at
    FROM renewals WHERE is_in_winback_cohort
    GROUP BY customer_key
),
campaign_touches AS (
    SELECT t.*, c.priority, c.reply_required, c.eligible_orders
    FROM touches AS t INNER JOIN campaigns AS c USING (campaign)
),
renewal_touches AS (
    SELECT t.ticket_id, t.campaign, r.order_id AS first_renewal_order_id
    FROM campaign_touches AS t
    INNER JOIN cohort_since AS cs ON cs.customer_key = t.customer_key AND cs.first_cohort_renewal_at < t.touch_at
    ASOF INNER JOIN renewal_starts AS r ON r.customer_key = t.customer_key AND r.order_at > t.touch_at
    WHERE t.eligible_orders = 'renewal'
),
touch_candidates AS (
    SELECT
        o.order_id, t.campaign, t.priority, t.ticket_id AS touch_ticket_id, t.touch_at, t.touch_month, t.agent_email
    FROM campaign_touches AS t
    INNER JOIN eligible AS o
        ON o.customer_key = t.customer_key AND o.order_at > t.touch_at AND o.order_at <= t.window_ends_at
    LEFT JOIN renewal_touches AS rt ON rt.ticket_id = t.ticket_id AND rt.campaign = t.campaign
    WHERE o.is_renewal = (t.eligible_orders = 'renewal')
      AND (NOT t.reply_required OR (t.first_reply_at <= t.window_ends_at AND t.first_reply_at < o.order_at))
      AND (t.eligible_orders <> 'renewal' OR rt.first_renewal_order_id = o.order_id)
),
coupon_candidates AS (
    SELECT
        o.order_id,
        c.campaign,
        c.priority,
        NULL::BIGINT AS touch_ticket_id,
        NULL::TIMESTAMPTZ AS touch_at,
        o.order_month AS touch_month,
        arg_min(cp.agent_email, (d.position, cp.valid_from, cp.source_line)) AS agent_email
    FROM (
        SELECT order_id, unnest(discount_codes).code AS code, generate_subscripts(discount_codes, 1) AS position
        FROM orders WHERE len(discount_codes) > 0
    ) AS d
    INNER JOIN eligible AS o ON o.order_id = d.order_id
    INNER JOIN raw_finance.agent_coupons AS cp
        ON lower(trim(cp.code)) = lower(trim(d.code))
       AND cp.valid_from <= o.order_date AND (cp.valid_to IS NULL OR o.order_date <= cp.valid_to)
    CROSS JOIN (SELECT campaign, priority FROM campaigns WHERE kind = 'coupon') AS c
    GROUP BY ALL
)
SELECT order_id, campaign, touch_ticket_id, touch_at, touch_month, lower(trim(agent_email)) AS agent_email
FROM (SELECT * FROM touch_candidates UNION ALL SELECT * FROM coupon_candidates)
QUALIFY row_number() OVER (
    PARTITION BY order_id ORDER BY priority, touch_at DESC NULLS LAST, touch_ticket_id DESC NULLS LAST) = 1;

------------------------------------------------------------------------------------------- marts
CREATE OR REPLACE TABLE hand.fct_campaign_touches AS
SELECT ticket_id, campaign, customer_key, agent_email, touch_at, touch_month, replied, first_reply_at, window_ends_at
FROM touches;

-- One row per attributed order in its month, one negative row per refund of it in the refund's month.
CREATE OR REPLACE TABLE hand.fct_attributed_orders AS
WITH a AS (SELECT * FROM attributed INNER JOIN ledger USING (order_id))
SELECT
    order_id, 'order' AS row_type, NULL::BIGINT AS refund_id, order_name, customer_key, campaign, agent_email,
    touch_ticket_id, touch_at, touch_month, order_at, order_month AS booked_month, currency,
    subtotal_original AS amount_original, net_revenue, cogs, 'v2' AS rule_version
FROM a
UNION ALL
SELECT
    a.order_id, 'refund', r.refund_id, a.order_name, a.customer_key, a.campaign, a.agent_email,
    a.touch_ticket_id, a.touch_at, a.touch_month, a.order_at, r.refund_month, r.currency,
    -r.reversal_original, -r.reversal, 0.00, 'v2'
FROM a INNER JOIN refunds AS r USING (order_id);

-- Every store-local month from the first to the last with an order, a refund or a touch.
CREATE OR REPLACE TEMP TABLE months AS
WITH active AS (
    SELECT order_month AS month FROM ledger
    UNION SELECT refund_month FROM refunds
    UNION SELECT touch_month FROM touches
),
bounds AS (SELECT cast(min(month) || '-01' AS DATE) AS first, cast(max(month) || '-01' AS DATE) AS last FROM active)
SELECT strftime(m, '%Y-%m') AS month, cast(m AS DATE) AS month_start
FROM bounds, unnest(generate_series(first, last, INTERVAL 1 MONTH)) AS g(m)
WHERE first IS NOT NULL;

-- §5 source history: a month is complete when every Shopify renewal order (var renewal_order_tag, Subscription
-- Recurring Order) created in it has
-- a renewal (held or rebuilt charge) behind it.
CREATE OR REPLACE TEMP TABLE history AS
SELECT o.order_month AS month, false AS source_history_complete
FROM orders AS o
WHERE list_contains(list_transform(string_split(o.tags, ','), lambda t: lower(trim(t))), 'subscription recurring order')
  AND o.order_id NOT IN (SELECT shopify_order_id FROM charges WHERE shopify_order_id IS NOT NULL)
GROUP BY o.order_month;

CREATE OR REPLACE TABLE hand.carrier_claims_monthly AS
WITH parsed AS MATERIALIZED (
    SELECT json_extract_string(record, ['$.mode', '$.type', '$.status', '$.status_timestamp', '$.requested_amount',
        '$.approved_amount', '$.shipment_id']) AS f
    FROM raw_easypost.claims
),
claims AS (
    SELECT
        code(f[2]) AS claim_type,
        code(f[3]) AS status,
        cast(f[4] AS TIMESTAMPTZ) AS status_at,
        cast(f[5] AS DECIMAL(18, 2)) AS requested_amount,
        cast(f[6] AS DECIMAL(18, 2)) AS approved_amount,
        f[7] AS shipment_id
    FROM parsed
    WHERE code(f[1]) = 'production' AND code(f[3]) <> 'cancelled'
)
SELECT
    local_month(c.status_at) AS month,
    coalesce(s.carrier, 'unknown') AS carrier,
    c.claim_type,
    count(*) AS claims_submitted,
    count(*) FILTER (WHERE c.status IN ('approved', 'approved_partial')) AS claims_approved,
    count(*) FILTER (WHERE c.status = 'rejected') AS claims_rejected,
    count(*) FILTER (WHERE c.status IN ('submitted', 'in_review')) AS claims_pending,
    coalesce(sum(c.requested_amount), 0) AS amount_requested,
    coalesce(sum(c.approved_amount) FILTER (WHERE c.status IN ('approved', 'approved_partial')), 0) AS amount_approved
FROM claims AS c
LEFT JOIN shipments AS s ON s.shipment_id = c.shipment_id
GROUP BY ALL;

-- The P&L as the data says now, one row per month.
CREATE OR REPLACE TEMP TABLE pnl_computed AS
WITH attributed_by_month AS (
    SELECT
        booked_month AS month,
        sum(net_revenue) FILTER (WHERE campaign = 'winback') AS revenue_winback,
        sum(net_revenue) FILTER (WHERE campaign = 'upsell') AS revenue_upsell,
        sum(net_revenue) FILTER (WHERE campaign = 'coupon') AS revenue_coupon,
        sum(cogs) FILTER (WHERE row_type = 'order') AS cogs_attributed
    FROM hand.fct_attributed_orders
    GROUP BY booked_month
),
claims AS (
    SELECT month, sum(amount_approved) AS carrier_claims_income FROM hand.carrier_claims_monthly GROUP BY month
),
costs AS (
    SELECT
        c.month,
        sum(usd(c.amount, c.currency, fx.rate_to_reporting)) FILTER (WHERE c.cost_type = 'staffing') AS cost_staffing,
        sum(usd(c.amount, c.currency, fx.rate_to_reporting)) FILTER (WHERE c.cost_type = 'platform') AS cost_platform,
        sum(usd(c.amount, c.currency, fx.rate_to_reporting)) FILTER (WHERE c.cost_type = 'other') AS cost_other
    FROM raw_finance.cs_costs AS c
    LEFT JOIN raw_finance.fx_rates AS fx ON fx.month = c.month AND fx.currency = c.currency
    GROUP BY c.month
),
charged AS (  -- refunds booked in the month plus COGS of replacement orders created in it
    SELECT month, sum(amount) AS amount
    FROM (
        SELECT refund_month AS month, amount FROM refunds
        UNION ALL
        SELECT order_month, cogs FROM ledger WHERE is_replacement AND NOT is_cancelled
    )
    GROUP BY month
),
share AS (
    SELECT m.month, coalesce(s.value, 0.10) AS refund_share
    FROM months AS m
    ASOF LEFT JOIN (SELECT valid_from, value FROM raw_finance.cs_settings WHERE setting = 'refund_share') AS s
        ON m.month_start >= s.valid_from
),
lines AS (
    SELECT
        m.month,
        coalesce(a.revenue_winback, 0) AS revenue_winback,
        coalesce(a.revenue_upsell, 0) AS revenue_upsell,
        coalesce(a.revenue_coupon, 0) AS revenue_coupon,
        coalesce(a.cogs_attributed, 0) AS cogs_attributed,
        coalesce(cl.carrier_claims_income, 0) AS carrier_claims_income,
        coalesce(co.cost_staffing, 0) AS cost_staffing,
        coalesce(co.cost_platform, 0) AS cost_platform,
        coalesce(co.cost_other, 0) AS cost_other,
        round(s.refund_share * coalesce(ch.amount, 0), 2) AS refund_replacement_charge
    FROM months AS m
    LEFT JOIN attributed_by_month AS a ON a.month = m.month
    LEFT JOIN claims AS cl ON cl.month = m.month
    LEFT JOIN costs AS co ON co.month = m.month
    LEFT JOIN charged AS ch ON ch.month = m.month
    LEFT JOIN share AS s ON s.month = m.month
)
SELECT
    month,
    revenue_winback,
    revenue_upsell,
    revenue_coupon,
    cogs_attributed,
    revenue_winback + revenue_upsell + revenue_coupon - cogs_attributed AS gross_profit,
    carrier_claims_income,
    cost_staffing,
    cost_platform,
    cost_other,
    refund_replacement_charge
FROM lines;

CREATE OR REPLACE TEMP TABLE pnl_computed_long AS
SELECT month, line, cast(amount AS DECIMAL(18, 2)) AS amount
FROM (
    UNPIVOT (
        SELECT *, gross_profit + carrier_claims_income - cost_staffing - cost_platform - cost_other
                  - refund_replacement_charge AS net_contribution
        FROM pnl_computed
    )
    ON COLUMNS(* EXCLUDE (month)) INTO NAME line VALUE amount
);

-- Month-end close: later changes to a closed month are booked in the first open month after it. A month closed
-- under rule version v1 keeps its figures: the v2 - v1 effect of its refunds (goods vs money returned) is not data.
CREATE OR REPLACE TABLE hand.cs_pnl_adjustments AS
WITH closed_months AS (SELECT DISTINCT month FROM ops.cs_pnl_closed),
open_months AS (SELECT month FROM months WHERE month NOT IN (SELECT month FROM closed_months)),
refund_effect AS (
    SELECT f.booked_month AS month, f.campaign, r.amount - r.reversal AS amount
    FROM hand.fct_attributed_orders AS f INNER JOIN refunds AS r ON r.refund_id = f.refund_id
    WHERE f.row_type = 'refund'
),
rule_effect AS (
    SELECT month, 'revenue_' || campaign AS line, sum(amount) AS amount FROM refund_effect GROUP BY ALL
    UNION ALL SELECT month, 'gross_profit', sum(amount) FROM refund_effect GROUP BY ALL
    UNION ALL SELECT month, 'net_contribution', sum(amount) FROM refund_effect GROUP BY ALL
),
differences AS (
    SELECT
        f.month AS affects_month, f.line, f.amount AS frozen_amount, coalesce(c.amount, 0) AS recomputed_amount,
        coalesce(c.amount, 0) - f.amount - CASE WHEN f.rule_version = 'v1' THEN coalesce(e.amount, 0) ELSE 0 END
            AS amount,
        f.closed_at, f.rule_version
    FROM ops.cs_pnl_closed AS f
    LEFT JOIN pnl_computed_long AS c ON c.month = f.month AND c.line = f.line
    LEFT JOIN rule_effect AS e ON e.month = f.month AND e.line = f.line
)
SELECT
    d.affects_month,
    coalesce(
        (SELECT min(o.month) FROM open_months AS o WHERE o.month > d.affects_month),
        strftime(cast((SELECT max(month) FROM closed_months) || '-01' AS DATE) + INTERVAL 1 MONTH, '%Y-%m')
    ) AS booked_month,
    d.line,
    cast(d.amount AS DECIMAL(18, 2)) AS amount,
    'late data or a rebuild changed a closed month' AS reason,
    d.frozen_amount,
    d.recomputed_amount,
    d.closed_at,
    d.rule_version
FROM differences AS d
WHERE d.amount <> 0;

-- As published: a closed month shows its frozen rows; an open month the data now plus adjustments booked in it.
CREATE OR REPLACE TABLE hand.cs_pnl_monthly AS
WITH closed AS (
    SELECT month, line, amount, closed_at, rule_version FROM ops.cs_pnl_closed
),
lines AS (
    SELECT * FROM (VALUES
        (1, 'revenue_winback'), (2, 'revenue_upsell'), (3, 'revenue_coupon'), (4, 'cogs_attributed'),
        (5, 'gross_profit'), (6, 'carrier_claims_income'), (7, 'cost_staffing'), (8, 'cost_platform'),
        (9, 'cost_other'), (10, 'refund_replacement_charge'), (11, 'net_contribution')
    ) AS l (line_order, line)
),
month_list AS (
    SELECT month FROM months
    UNION SELECT booked_month FROM hand.cs_pnl_adjustments
    UNION SELECT month FROM closed
),
closed_month_info AS (
    SELECT month, max(closed_at) AS closed_at, max(rule_version) AS rule_version FROM closed GROUP BY month
),
open_amounts AS (
    SELECT month, line, sum(amount) AS amount
    FROM (
        SELECT month, line, amount FROM pnl_computed_long
        UNION ALL
        SELECT booked_month, line, amount FROM hand.cs_pnl_adjustments
    )
    GROUP BY month, line
)
SELECT
    m.month,
    l.line_order,
    l.line,
    cast(CASE WHEN ci.month IS NOT NULL THEN coalesce(cl.amount, 0) ELSE coalesce(oa.amount, 0) END
         AS DECIMAL(18, 2)) AS amount,
    ci.month IS NOT NULL OR coalesce(h.source_history_complete, true) AS source_history_complete,
    ci.month IS NOT NULL AS is_closed,
    ci.closed_at,
    coalesce(ci.rule_version, 'v2') AS rule_version
FROM month_list AS m
CROSS JOIN lines AS l
LEFT JOIN closed_month_info AS ci ON ci.month = m.month
LEFT JOIN closed AS cl ON cl.month = m.month AND cl.line = l.line
LEFT JOIN open_amounts AS oa ON oa.month = m.month AND oa.line = l.line
LEFT JOIN history AS h ON h.month = m.month;

CREATE OR REPLACE TABLE hand.cs_pnl_monthly_wide AS
SELECT
    month,
    any_value(amount) FILTER (WHERE line = 'revenue_winback') AS revenue_winback,
    any_value(amount) FILTER (WHERE line = 'revenue_upsell') AS revenue_upsell,
    any_value(amount) FILTER (WHERE line = 'revenue_coupon') AS revenue_coupon,
    any_value(amount) FILTER (WHERE line = 'cogs_attributed') AS cogs_attributed,
    any_value(amount) FILTER (WHERE line = 'gross_profit') AS gross_profit,
    any_value(amount) FILTER (WHERE line = 'carrier_claims_income') AS carrier_claims_income,
    any_value(amount) FILTER (WHERE line = 'cost_staffing') AS cost_staffing,
    any_value(amount) FILTER (WHERE line = 'cost_platform') AS cost_platform,
    any_value(amount) FILTER (WHERE line = 'cost_other') AS cost_other,
    any_value(amount) FILTER (WHERE line = 'refund_replacement_charge') AS refund_replacement_charge,
    any_value(amount) FILTER (WHERE line = 'net_contribution') AS net_contribution,
    any_value(amount) FILTER (WHERE line = 'net_contribution') > 0 AS is_profit_center,
    any_value(source_history_complete) AS source_history_complete,
    any_value(is_closed) AS is_closed,
    any_value(closed_at) AS closed_at,
    any_value(rule_version) AS rule_version
FROM hand.cs_pnl_monthly
GROUP BY month;

-- Funnel per touch month and campaign (coupons: the order's month); revenue net of the orders' refunds.
CREATE OR REPLACE TABLE hand.campaign_performance_monthly AS
WITH touched AS (
    SELECT
        touch_month AS month,
        campaign,
        count(DISTINCT customer_key) AS contacted,
        count(DISTINCT customer_key) FILTER (WHERE replied) AS replied
    FROM touches
    GROUP BY ALL
),
converted AS (
    SELECT
        touch_month AS month,
        campaign,
        count(*) FILTER (WHERE row_type = 'order') AS converted_orders,
        sum(net_revenue) AS revenue,
        sum(cogs) AS cogs
    FROM hand.fct_attributed_orders
    GROUP BY ALL
),
funnel AS (
    SELECT
        m.month,
        c.campaign,
        c.priority,
        coalesce(t.contacted, 0) AS contacted,
        coalesce(t.replied, 0) AS replied,
        coalesce(o.converted_orders, 0) AS converted_orders,
        cast(coalesce(o.revenue, 0) AS DECIMAL(18, 2)) AS revenue,
        cast(coalesce(o.cogs, 0) AS DECIMAL(18, 2)) AS cogs
    FROM months AS m
    CROSS JOIN campaigns AS c
    LEFT JOIN touched AS t ON t.month = m.month AND t.campaign = c.campaign
    LEFT JOIN converted AS o ON o.month = m.month AND o.campaign = c.campaign
)
SELECT
    month,
    campaign,
    contacted,
    replied,
    ratio(replied, contacted) AS reply_rate,
    converted_orders,
    ratio(converted_orders, contacted) AS conversion_rate,
    revenue,
    cogs,
    revenue - cogs AS gross_margin,
    money_per(revenue, contacted) AS revenue_per_contact,
    priority AS campaign_priority
FROM funnel;

-- Per month, agent and campaign: touches by touch month, orders and revenue booked like the P&L.
CREATE OR REPLACE TABLE hand.agent_performance_monthly AS
WITH touched AS (
    SELECT touch_month AS month, agent_email, campaign, count(*) AS touches, count(*) FILTER (WHERE replied) AS replies
    FROM touches
    GROUP BY ALL
),
booked AS (
    SELECT
        booked_month AS month,
        agent_email,
        campaign,
        count(*) FILTER (WHERE row_type = 'order') AS attributed_orders,
        sum(net_revenue) AS attributed_revenue
    FROM hand.fct_attributed_orders
    GROUP BY ALL
)
SELECT
    month,
    agent_email,
    campaign,
    coalesce(t.touches, 0) AS touches,
    coalesce(t.replies, 0) AS replies,
    coalesce(b.attributed_orders, 0) AS attributed_orders,
    cast(coalesce(b.attributed_revenue, 0) AS DECIMAL(18, 2)) AS attributed_revenue
FROM touched AS t
FULL OUTER JOIN booked AS b USING (month, agent_email, campaign)
SEMI JOIN months USING (month);

-- The win-back funnel per renewal month once dunning has ended.
CREATE OR REPLACE TABLE hand.winback_cohorts AS
WITH dunned AS (SELECT * FROM renewals WHERE is_dunning_over),
winback_touches AS (
    SELECT t.* FROM touches AS t SEMI JOIN campaigns AS c ON c.campaign = t.campaign AND c.eligible_orders = 'renewal'
),
contacts AS (  -- a win-back touch after the renewal date and no later than the next renewal day
    SELECT DISTINCT r.charge_id, t.ticket_id
    FROM dunned AS r
    INNER JOIN winback_touches AS t
        ON t.customer_key = r.customer_key AND t.touch_at > r.scheduled_at AND t.touch_at <= r.next_scheduled_at
    WHERE r.is_in_winback_cohort
),
saves AS (  -- the first attributed win-back order won by one of those touches
    SELECT
        c.charge_id,
        arg_min(f.order_at, (f.order_at, f.order_id)) AS order_at,
        arg_min(f.net_revenue, (f.order_at, f.order_id)) AS recovered_revenue,
        arg_min(f.customer_key, (f.order_at, f.order_id)) AS customer_key
    FROM contacts AS c
    INNER JOIN hand.fct_attributed_orders AS f ON f.touch_ticket_id = c.ticket_id AND f.row_type = 'order'
    SEMI JOIN campaigns AS w ON w.campaign = f.campaign AND w.eligible_orders = 'renewal'
    GROUP BY c.charge_id
),
retained AS (  -- later renewal orders of a saved customer within 90 days
    SELECT s.charge_id, sum(o.net_revenue) AS retained_revenue
    FROM saves AS s
    INNER JOIN ledger AS o
        ON o.customer_key = s.customer_key AND o.is_renewal AND NOT o.is_cancelled
       AND o.order_at > s.order_at AND o.order_at <= s.order_at + to_days(90)
    GROUP BY s.charge_id
),
cohorts AS (
    SELECT
        r.renewal_month,
        count(*) AS renewals,
        count(*) FILTER (WHERE r.is_failed) AS failed,
        count(*) FILTER (WHERE r.is_recovered_by_dunning) AS recovered_by_dunning,
        count(*) FILTER (WHERE r.is_in_winback_cohort) AS cohort_size,
        count(ct.charge_id) AS contacted,
        count(s.charge_id) AS saved,
        cast(coalesce(sum(s.recovered_revenue), 0) AS DECIMAL(18, 2)) AS recovered_revenue,
        cast(coalesce(sum(rt.retained_revenue), 0) AS DECIMAL(18, 2)) AS retained_revenue_90d
    FROM dunned AS r
    LEFT JOIN (SELECT DISTINCT charge_id FROM contacts) AS ct ON ct.charge_id = r.charge_id
    LEFT JOIN saves AS s ON s.charge_id = r.charge_id
    LEFT JOIN retained AS rt ON rt.charge_id = r.charge_id
    GROUP BY r.renewal_month
)
SELECT
    cohorts.renewal_month,
    renewals,
    failed,
    recovered_by_dunning,
    cohort_size,
    contacted,
    saved,
    ratio(saved, cohort_size) AS save_rate,
    recovered_revenue,
    retained_revenue_90d,
    coalesce(h.source_history_complete, true) AS source_history_complete
FROM cohorts
LEFT JOIN history AS h ON h.month = cohorts.renewal_month;

CREATE OR REPLACE TABLE hand.dim_customers AS
WITH customers AS (
    SELECT customer_key, min(email) AS email
    FROM (
        SELECT cast(shopify_customer_id AS VARCHAR) AS customer_key, lower(trim(email)) AS email FROM shopify_customers
        UNION ALL
        SELECT customer_key, customer_email FROM ledger
        UNION ALL
        SELECT customer_key, customer_email FROM touches
    )
    WHERE customer_key IS NOT NULL
    GROUP BY customer_key
),
recharge AS (
    SELECT shopify_customer_id, min(recharge_customer_id) AS recharge_customer_id
    FROM recharge_customers GROUP BY shopify_customer_id
),
gorgias AS (
    SELECT lower(trim(email)) AS email, min(gorgias_customer_id) AS gorgias_customer_id
    FROM gorgias_customers GROUP BY 1
)
SELECT
    c.customer_key,
    try_cast(c.customer_key AS BIGINT) AS shopify_customer_id,
    c.email,
    r.recharge_customer_id,
    g.gorgias_customer_id
FROM customers AS c
LEFT JOIN recharge AS r ON cast(r.shopify_customer_id AS VARCHAR) = c.customer_key
LEFT JOIN gorgias AS g ON g.email = c.email;

CREATE OR REPLACE TABLE hand.dim_agents AS
WITH agents AS (
    SELECT
        lower(trim(email)) AS agent_email, min(user_id) AS gorgias_user_id, min(name) AS name, min(role) AS role,
        bool_or(is_active) AS is_active
    FROM users WHERE email IS NOT NULL
    GROUP BY 1
),
coupons AS (
    SELECT lower(trim(agent_email)) AS agent_email, string_agg(DISTINCT code, ', ' ORDER BY code) AS coupon_codes
    FROM raw_finance.agent_coupons
    GROUP BY 1
)
SELECT
    coalesce(a.agent_email, c.agent_email) AS agent_email,
    a.gorgias_user_id,
    a.name,
    a.role,
    coalesce(a.is_active, false) AS is_active,
    c.coupon_codes
FROM agents AS a
FULL OUTER JOIN coupons AS c ON c.agent_email = a.agent_email;

------------------------------------------------------------------------------------------- §12 incrementality
-- Control groups: eligible customers (new subscribers at their sign-up order, the win-back cohort when dunning
-- ends; the first instant per customer) split by sha256('campaign|customer_key|salt'): the first 8 bytes ÷ 2^64
-- below control_share is control. Conversions from the eligibility instant in both groups.
CREATE OR REPLACE TEMP TABLE assigned AS
WITH signup_orders AS (
    SELECT cast(f[2] AS BIGINT) AS order_id
    FROM (SELECT json_extract_string(record, ['$.type', '$.external_order_id.ecommerce']) AS f FROM raw_recharge.charges)
    WHERE code(f[1]) = 'checkout' AND f[2] IS NOT NULL
    UNION
    SELECT cast(f[2] AS BIGINT)
    FROM (SELECT json_extract_string(record, ['$.type', '$.external_order_id.ecommerce']) AS f FROM raw_recharge.orders)
    WHERE code(f[1]) = 'checkout' AND f[2] IS NOT NULL
),
eligible AS (
    SELECT c.campaign, c.eligible_orders, c.window_days, c.control_share, c.control_salt, e.customer_key, e.eligible_at
    FROM campaigns AS c
    INNER JOIN (
        SELECT 'non_renewal' AS eligible_orders, l.customer_key, min(l.order_at) AS eligible_at
        FROM ledger AS l WHERE l.order_id IN (SELECT order_id FROM signup_orders) GROUP BY l.customer_key
        UNION ALL
        SELECT 'renewal', customer_key, min(dunning_ends_at)
        FROM renewals WHERE is_in_winback_cohort AND is_dunning_over GROUP BY customer_key
    ) AS e ON e.eligible_orders = c.eligible_orders
    WHERE c.control_share IS NOT NULL AND e.eligible_at <= as_of()
),
windowed AS (
    SELECT *, eligible_at + to_days(window_days) AS window_ends_at,
           substr(sha256(campaign || '|' || customer_key || '|' || control_salt), 1, 16) AS assignment_hash
    FROM eligible
),
converted AS (
    SELECT e.campaign, e.customer_key,
           arg_min(o.order_id, (o.order_at, o.order_id)) AS order_id, min(o.order_at) AS order_at
    FROM windowed AS e
    INNER JOIN ledger AS o
        ON o.customer_key = e.customer_key AND o.order_at > e.eligible_at AND NOT o.is_cancelled
       AND o.is_renewal = (e.eligible_orders = 'renewal')
       AND (e.eligible_orders = 'renewal' OR (NOT o.is_replacement AND o.order_at <= e.window_ends_at))
    GROUP BY e.campaign, e.customer_key
),
touched AS (
    SELECT e.campaign, e.customer_key, min(t.touch_at) AS first_touch_at
    FROM windowed AS e
    INNER JOIN touches AS t ON t.campaign = e.campaign AND t.customer_key = e.customer_key
       AND t.touch_at BETWEEN e.eligible_at AND e.window_ends_at
    GROUP BY e.campaign, e.customer_key
)
SELECT
    e.*,
    CASE WHEN cast(cast('0x' || e.assignment_hash AS UBIGINT) AS HUGEINT) * 1000000
              < cast(e.control_share * 1000000 AS HUGEINT) * cast('18446744073709551616' AS HUGEINT)
         THEN 'control' ELSE 'treatment' END AS assignment_group,
    t.first_touch_at,
    CASE WHEN cv.order_at <= e.window_ends_at THEN cv.order_id END AS conversion_order_id,
    CASE WHEN cv.order_at <= e.window_ends_at THEN cv.order_at END AS conversion_at,
    CASE WHEN cv.order_at <= e.window_ends_at THEN l.net_revenue - l.cogs END AS conversion_margin,
    cast(date_trunc('month', timezone('America/Chicago', e.eligible_at)) AS DATE) AS eligible_month
FROM windowed AS e
LEFT JOIN touched AS t USING (campaign, customer_key)
LEFT JOIN converted AS cv USING (campaign, customer_key)
LEFT JOIN ledger AS l ON l.order_id = cv.order_id;

CREATE OR REPLACE TEMP MACRO quotient(num, den, unit) AS  -- signed, half up (away from zero), exact
    CASE WHEN den > 0 THEN sign(cast(num AS HUGEINT))
        * cast((2 * abs(cast(num AS HUGEINT)) + cast(den * unit AS HUGEINT)) // (2 * cast(den * unit AS HUGEINT))
               AS DECIMAL(18, 0)) END;

CREATE OR REPLACE TABLE hand.campaign_assignments AS
SELECT
    campaign, customer_key, assignment_group, eligible_at, eligible_month, window_ends_at,
    cast(control_share AS DECIMAL(7, 6)) AS control_share, assignment_hash, first_touch_at,
    assignment_group = 'control' AND first_touch_at IS NOT NULL AS is_contaminated,
    conversion_order_id IS NOT NULL AS is_converted, conversion_order_id, conversion_at,
    cast(conversion_margin AS DECIMAL(18, 2)) AS conversion_margin,
    cast(timezone('America/Chicago', as_of()) AS DATE) >= final_on AS is_final, final_on
FROM (SELECT *, cast(cast(timezone('America/Chicago', window_ends_at) AS DATE) + 1 AS DATE) AS final_on FROM assigned);

CREATE OR REPLACE TABLE hand.campaign_lift_monthly AS
WITH counted AS (
    SELECT
        eligible_month, campaign, any_value(control_share) AS control_share, any_value(window_days) AS window_days,
        count(*) AS eligible,
        count(*) FILTER (WHERE assignment_group = 'treatment') AS nt,
        count(*) FILTER (WHERE assignment_group = 'control') AS nc,
        count(conversion_order_id) FILTER (WHERE assignment_group = 'treatment') AS xt,
        count(conversion_order_id) FILTER (WHERE assignment_group = 'control') AS xc,
        coalesce(sum(conversion_margin) FILTER (WHERE assignment_group = 'treatment'), 0) AS margin,
        count(first_touch_at) FILTER (WHERE assignment_group = 'control') AS contaminated
    FROM assigned
    GROUP BY eligible_month, campaign
),
lift AS (
    SELECT *, cast(xt AS HUGEINT) * nc - cast(xc AS HUGEINT) * nt AS num,
        CASE WHEN nt > 0 AND nc > 0 THEN round(xt / nt - xc / nc
            - 1.959963985 * sqrt((xt / nt) * (1 - xt / nt) / nt + (xc / nc) * (1 - xc / nc) / nc), 4) END AS low,
        CASE WHEN nt > 0 AND nc > 0 THEN round(xt / nt - xc / nc
            + 1.959963985 * sqrt((xt / nt) * (1 - xt / nt) / nt + (xc / nc) * (1 - xc / nc) / nc), 4) END AS high
    FROM counted
)
SELECT
    eligible_month, campaign, cast(control_share AS DECIMAL(7, 6)) AS control_share, eligible,
    nt AS treatment_size, nc AS control_size, xt AS treatment_conversions, xc AS control_conversions,
    cast(ratio(xt, nt) AS DECIMAL(18, 4)) AS treatment_rate, cast(ratio(xc, nc) AS DECIMAL(18, 4)) AS control_rate,
    cast(quotient(num * 10000, nt * nc, 1) * 0.0001 AS DECIMAL(18, 4)) AS absolute_lift,
    cast(quotient(num * 10000, nt * xc, 1) * 0.0001 AS DECIMAL(18, 4)) AS relative_lift,
    cast(low AS DECIMAL(18, 4)) AS lift_ci_low, cast(high AS DECIMAL(18, 4)) AS lift_ci_high,
    low > 0 OR high < 0 AS lift_excludes_zero, 'wald_unpooled_95' AS interval_method,
    cast(quotient(num * 100, nc, 1) * 0.01 AS DECIMAL(18, 2)) AS incremental_orders,
    cast(margin AS DECIMAL(18, 2)) AS treatment_margin,
    cast(quotient(num * cast(margin * 100 AS HUGEINT), nc * xt, 1) * 0.01 AS DECIMAL(18, 2)) AS incremental_margin,
    contaminated, cast(ratio(contaminated, nc) AS DECIMAL(18, 4)) AS contamination_rate,
    cast(timezone('America/Chicago', as_of()) AS DATE) >= final_on AS is_final, final_on
FROM (SELECT *, cast(eligible_month + to_months(1) + to_days(window_days + 1) AS DATE) AS final_on FROM lift);

-- The refund share from 0% to 20%: net contribution with everything else as published, and the break-even share.
CREATE OR REPLACE TABLE hand.refund_share_sensitivity AS
WITH base AS (
    SELECT month, sum(amount) AS amount
    FROM (SELECT refund_month AS month, amount FROM refunds
          UNION ALL SELECT order_month, cogs FROM ledger WHERE is_replacement AND NOT is_cancelled)
    GROUP BY month
),
share AS (
    SELECT m.month, coalesce(s.value, 0.10) AS refund_share
    FROM months AS m
    ASOF LEFT JOIN (SELECT valid_from, value FROM raw_finance.cs_settings WHERE setting = 'refund_share') AS s
        ON m.month_start >= s.valid_from
),
pnl AS (
    SELECT w.month, w.net_contribution + w.refund_replacement_charge AS before, w.is_closed,
           cast(w.closed_at AS DATE) AS closed_on, coalesce(b.amount, 0) AS base, s.refund_share AS booked
    FROM hand.cs_pnl_monthly_wide AS w
    LEFT JOIN base AS b ON b.month = w.month
    LEFT JOIN share AS s ON s.month = w.month
)
SELECT
    cast(p.month || '-01' AS DATE) AS month,
    s.refund_share,
    s.refund_share = p.booked AS is_booked_share,
    cast(p.before AS DECIMAL(18, 2)) AS net_contribution_before_refund_charge,
    cast(p.base AS DECIMAL(18, 2)) AS refund_replacement_base,
    cast(round(s.refund_share * p.base, 2) AS DECIMAL(18, 2)) AS refund_replacement_charge,
    cast(p.before - round(s.refund_share * p.base, 2) AS DECIMAL(18, 2)) AS net_contribution,
    cast(quotient(cast(p.before * 1000000 AS HUGEINT), cast(p.base * 100 AS HUGEINT), 1) * 0.0001 AS DECIMAL(18, 4))
        AS break_even_share,
    p.is_closed AS is_final,
    p.closed_on AS final_on
FROM pnl AS p
CROSS JOIN (SELECT cast(step * 0.025 AS DECIMAL(5, 4)) AS refund_share FROM range(9) AS r(step)) AS s;

-- §12 incremental net contribution (an estimate): per campaign with a lift estimate, attributed margin replaced by
-- incremental margin; the interval from the lift interval's ends. On both P&L marts, as month-level columns.
CREATE OR REPLACE TEMP TABLE pnl_estimates AS
WITH attributed_margin AS (
    SELECT booked_month AS month, campaign,
           sum(net_revenue) - coalesce(sum(cogs) FILTER (WHERE row_type = 'order'), 0) AS margin
    FROM hand.fct_attributed_orders GROUP BY ALL
),
ends AS (
    SELECT strftime(eligible_month, '%Y-%m') AS month, campaign, incremental_margin,
        quotient(cast(lift_ci_low * 10000 AS HUGEINT) * treatment_size * cast(treatment_margin * 100 AS HUGEINT),
                 10000 * treatment_conversions, 1) * 0.01 AS lo,
        quotient(cast(lift_ci_high * 10000 AS HUGEINT) * treatment_size * cast(treatment_margin * 100 AS HUGEINT),
                 10000 * treatment_conversions, 1) * 0.01 AS hi
    FROM hand.campaign_lift_monthly WHERE incremental_margin IS NOT NULL
)
SELECT e.month, sum(e.incremental_margin - coalesce(a.margin, 0)) AS delta,
       sum(least(e.lo, e.hi) - coalesce(a.margin, 0)) AS delta_low,
       sum(greatest(e.lo, e.hi) - coalesce(a.margin, 0)) AS delta_high
FROM ends AS e LEFT JOIN attributed_margin AS a USING (month, campaign)
GROUP BY e.month;

CREATE OR REPLACE TEMP TABLE pnl_booked_wide AS SELECT * FROM hand.cs_pnl_monthly_wide;
CREATE OR REPLACE TEMP TABLE pnl_booked_long AS SELECT * FROM hand.cs_pnl_monthly;
CREATE OR REPLACE TABLE hand.cs_pnl_monthly_wide AS
SELECT w.*,
    cast(w.net_contribution + coalesce(e.delta, 0) AS DECIMAL(18, 2)) AS incremental_net_contribution,
    cast(w.net_contribution + coalesce(e.delta_low, 0) AS DECIMAL(18, 2)) AS incremental_net_contribution_low,
    cast(w.net_contribution + coalesce(e.delta_high, 0) AS DECIMAL(18, 2)) AS incremental_net_contribution_high
FROM pnl_booked_wide AS w LEFT JOIN pnl_estimates AS e USING (month);

CREATE OR REPLACE TABLE hand.cs_pnl_monthly AS
SELECT l.*, w.incremental_net_contribution, w.incremental_net_contribution_low, w.incremental_net_contribution_high
FROM pnl_booked_long AS l LEFT JOIN hand.cs_pnl_monthly_wide AS w USING (month);

------------------------------------------------------------------------------- published shape
-- The marts above keep 'YYYY-MM' month labels (they join on them); as published every month is a DATE (the
-- first day) and every row says whether it can still change (is_final) and from which day it cannot (final_on):
-- see dbt_project/macros/finality.sql. The longest touch window is 14 days (winback), the close is on the 5th.
CREATE OR REPLACE TEMP MACRO month_date(label) AS cast(label || '-01' AS DATE);
CREATE OR REPLACE TEMP MACRO as_of_day() AS cast(timezone('America/Chicago', as_of()) AS DATE);
CREATE OR REPLACE TEMP MACRO after_month(d, days) AS cast(cast(d + INTERVAL 1 MONTH AS DATE) + to_days(days) AS DATE);
CREATE OR REPLACE TEMP MACRO final_by(final_on) AS coalesce(final_on <= as_of_day(), false);
CREATE OR REPLACE TEMP MACRO scheduled_close(d) AS
    CASE WHEN after_month(d, 4) > as_of_day() THEN after_month(d, 4) END;

CREATE OR REPLACE TEMP TABLE labelled_touches AS SELECT * FROM hand.fct_campaign_touches;
CREATE OR REPLACE TABLE hand.fct_campaign_touches AS
SELECT
    * REPLACE (month_date(touch_month) AS touch_month),
    final_by(cast(timezone('America/Chicago', window_ends_at) AS DATE) + 1) AS is_final,
    cast(cast(timezone('America/Chicago', window_ends_at) AS DATE) + 1 AS DATE) AS final_on
FROM labelled_touches;

CREATE OR REPLACE TEMP TABLE labelled_orders AS SELECT * FROM hand.fct_attributed_orders;
CREATE OR REPLACE TABLE hand.fct_attributed_orders AS
SELECT
    * REPLACE (
        month_date(touch_month) AS touch_month, month_date(booked_month) AS booked_month,
        cast(amount_original AS DECIMAL(18, 2)) AS amount_original, cast(net_revenue AS DECIMAL(18, 2)) AS net_revenue,
        cast(cogs AS DECIMAL(18, 2)) AS cogs),
    final_by(after_month(month_date(booked_month), 0)) AS is_final,
    after_month(month_date(booked_month), 0) AS final_on
FROM labelled_orders;

CREATE OR REPLACE TEMP TABLE labelled_claims AS SELECT * FROM hand.carrier_claims_monthly;
CREATE OR REPLACE TABLE hand.carrier_claims_monthly AS
SELECT
    * REPLACE (
        month_date(month) AS month, cast(amount_requested AS DECIMAL(18, 2)) AS amount_requested,
        cast(amount_approved AS DECIMAL(18, 2)) AS amount_approved),
    final_by(CASE WHEN claims_pending = 0 THEN after_month(month_date(month), 0) END) AS is_final,
    CASE WHEN claims_pending = 0 THEN after_month(month_date(month), 0) END AS final_on
FROM labelled_claims;

CREATE OR REPLACE TEMP TABLE labelled_adjustments AS SELECT * FROM hand.cs_pnl_adjustments;
CREATE OR REPLACE TABLE hand.cs_pnl_adjustments AS
SELECT
    * REPLACE (
        month_date(affects_month) AS affects_month, month_date(booked_month) AS booked_month,
        cast(frozen_amount AS DECIMAL(18, 2)) AS frozen_amount,
        cast(recomputed_amount AS DECIMAL(18, 2)) AS recomputed_amount),
    false AS is_final,
    scheduled_close(month_date(booked_month)) AS final_on
FROM labelled_adjustments;

CREATE OR REPLACE TEMP TABLE labelled_pnl AS SELECT * FROM hand.cs_pnl_monthly;
CREATE OR REPLACE TABLE hand.cs_pnl_monthly AS
SELECT
    * REPLACE (month_date(month) AS month),
    is_closed AS is_final,
    CASE WHEN is_closed THEN cast(timezone('America/Chicago', closed_at) AS DATE)
         WHEN source_history_complete THEN scheduled_close(month_date(month)) END AS final_on
FROM labelled_pnl;

CREATE OR REPLACE TEMP TABLE labelled_pnl_wide AS SELECT * FROM hand.cs_pnl_monthly_wide;
CREATE OR REPLACE TABLE hand.cs_pnl_monthly_wide AS
SELECT
    * REPLACE (month_date(month) AS month),
    is_closed AS is_final,
    CASE WHEN is_closed THEN cast(timezone('America/Chicago', closed_at) AS DATE)
         WHEN source_history_complete THEN scheduled_close(month_date(month)) END AS final_on
FROM labelled_pnl_wide;

CREATE OR REPLACE TEMP TABLE labelled_campaigns AS SELECT * FROM hand.campaign_performance_monthly;
CREATE OR REPLACE TABLE hand.campaign_performance_monthly AS
SELECT
    * REPLACE (
        month_date(month) AS month, cast(reply_rate AS DECIMAL(5, 4)) AS reply_rate,
        cast(conversion_rate AS DECIMAL(5, 4)) AS conversion_rate, cast(revenue AS DECIMAL(18, 2)) AS revenue,
        cast(cogs AS DECIMAL(18, 2)) AS cogs, cast(gross_margin AS DECIMAL(18, 2)) AS gross_margin,
        cast(revenue_per_contact AS DECIMAL(18, 2)) AS revenue_per_contact),
    final_by(after_month(month_date(month), 14)) AS is_final,
    after_month(month_date(month), 14) AS final_on
FROM labelled_campaigns;

CREATE OR REPLACE TEMP TABLE labelled_agents AS SELECT * FROM hand.agent_performance_monthly;
CREATE OR REPLACE TABLE hand.agent_performance_monthly AS
SELECT
    * REPLACE (month_date(month) AS month, cast(attributed_revenue AS DECIMAL(18, 2)) AS attributed_revenue),
    final_by(after_month(month_date(month), 14)) AS is_final,
    after_month(month_date(month), 14) AS final_on
FROM labelled_agents;

-- A cohort: touches up to the next renewal day (the 15th), a save within 14 days of one, then 90 days of
-- retained revenue; a month short of source history waits for it.
CREATE OR REPLACE TEMP TABLE labelled_cohorts AS SELECT * FROM hand.winback_cohorts;
CREATE OR REPLACE TABLE hand.winback_cohorts AS
SELECT
    * REPLACE (
        month_date(renewal_month) AS renewal_month, cast(save_rate AS DECIMAL(5, 4)) AS save_rate,
        cast(recovered_revenue AS DECIMAL(18, 2)) AS recovered_revenue,
        cast(retained_revenue_90d AS DECIMAL(18, 2)) AS retained_revenue_90d),
    final_by(CASE WHEN source_history_complete THEN after_month(month_date(renewal_month), 14 + 14 + 90 + 1) END)
        AS is_final,
    CASE WHEN source_history_complete THEN after_month(month_date(renewal_month), 14 + 14 + 90 + 1) END AS final_on
FROM labelled_cohorts;

CREATE OR REPLACE TEMP TABLE labelled_customers AS SELECT * FROM hand.dim_customers;
CREATE OR REPLACE TABLE hand.dim_customers AS
SELECT *, false AS is_final, NULL::DATE AS final_on FROM labelled_customers;

CREATE OR REPLACE TEMP TABLE labelled_agent_dim AS SELECT * FROM hand.dim_agents;
CREATE OR REPLACE TABLE hand.dim_agents AS
SELECT *, false AS is_final, NULL::DATE AS final_on FROM labelled_agent_dim;

-- Which version this is: the months and their status, and one row for the whole (published_at is stamped
-- when publishing).
CREATE OR REPLACE TABLE hand.publication_months AS
SELECT
    month, CASE WHEN is_closed THEN 'closed' ELSE 'open' END AS status, source_history_complete, rule_version,
    is_final, final_on
FROM hand.cs_pnl_monthly_wide;

CREATE OR REPLACE TABLE hand.publication AS
SELECT
    NULL::TIMESTAMPTZ AS published_at,
    as_of() AS as_of,
    'v2' AS rule_version,
    'USD' AS reporting_currency,
    count(*) FILTER (WHERE status = 'closed') AS months_closed,
    count(*) FILTER (WHERE status = 'open') AS months_open,
    NOT coalesce(bool_or(NOT source_history_complete), false) AS source_history_complete
FROM hand.publication_months;

-- The refund-share table is final when its P&L month is (the P&L's finality, above).
CREATE OR REPLACE TEMP TABLE sensitivity_booked AS SELECT * FROM hand.refund_share_sensitivity;
CREATE OR REPLACE TABLE hand.refund_share_sensitivity AS
SELECT s.* REPLACE (w.is_final AS is_final, w.final_on AS final_on)
FROM sensitivity_booked AS s INNER JOIN hand.cs_pnl_monthly_wide AS w USING (month);
