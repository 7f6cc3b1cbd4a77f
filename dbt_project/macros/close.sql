{#- §9 month-end close: the frozen P&L rows and the close/reopen log, written by pipeline/close.py and
    read by the P&L marts. Created here (dbt runs before any close) so both sides share one DDL. -#}
{% macro create_close_tables() -%}
    create schema if not exists ops;
    create table if not exists ops.cs_pnl_closed (
        month varchar not null,
        line varchar not null,
        amount decimal(18, 2) not null,
        closed_at timestamptz not null,
        rule_version varchar not null,
        primary key (month, line)
    );
    create table if not exists ops.month_close_log (
        month varchar not null,
        action varchar not null,
        acted_at timestamptz not null,
        acted_by varchar not null,
        reason varchar,
        rule_version varchar
    );
{%- endmacro %}
