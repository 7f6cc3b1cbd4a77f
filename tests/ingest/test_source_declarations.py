"""One declaration per source entity (ingest/sources): landing, the raw gate and the dbt sources read it."""

from __future__ import annotations

from ingest.dbt_sources import stale_files
from ingest.endpoints import check_record
from ingest.sources import vendors


def endpoint(name: str):
    vendor, entity = name.split(".")
    return next(ep for ep in vendors()[vendor].endpoints if ep.entity == entity)


def test_the_dbt_sources_yaml_is_generated_from_the_declarations():
    """Before: hand-written YAML with its own freshness (26 h / 50 h) beside Python's (3 h / 30 h)."""
    assert stale_files() == [], "run `python -m ingest.dbt_sources`"


def test_landing_and_the_raw_gate_require_the_same_fields():
    """Before: landing required a ticket's created_datetime only, the raw gate created, updated and status, so a
    ticket without a status landed and then failed the whole gate instead of being quarantined alone."""
    from expectations.suites import RAW_ENTITIES

    tickets = endpoint("gorgias.tickets")
    record = {"id": 1, "created_datetime": "2026-03-01T10:00:00Z", "updated_datetime": "2026-03-01T10:00:00Z"}
    assert check_record(tickets, {**record, "status": "open"})[1] is None
    assert check_record(tickets, record)[1] == "missing required field 'status'"
    gate = next(e for e in RAW_ENTITIES if e.table == "raw_gorgias.tickets")
    assert set(gate.required) == set(tickets.required)


def test_the_gate_compares_statuses_as_staging_reads_them_and_lands_them_as_the_vendor_spells_them():
    from expectations.suites import RAW_ENTITIES

    orders = endpoint("shopify.orders")
    record = {"legacyResourceId": "1", "name": "#1", "createdAt": "2026-03-01T10:00:00Z",
              "updatedAt": "2026-03-01T10:00:00Z", "currencyCode": "USD",
              "subtotalPriceSet": {"shopMoney": {"amount": "10.00"}}}  # fmt: skip
    assert check_record(orders, {**record, "displayFinancialStatus": "PAID"})[1] is None
    assert "not one of the documented values" in check_record(orders, {**record, "displayFinancialStatus": "paid"})[1]
    gate = next(e for e in RAW_ENTITIES if e.table == "raw_shopify.orders")
    assert "paid" in gate.codes["displayFinancialStatus"] and "cancelReason" in gate.codes


def test_every_vendor_has_one_connection_dag_and_client():
    from ingest.vendors import CLIENTS

    for name, vendor in vendors().items():
        assert CLIENTS[name].conn_id == vendor.conn_id == f"{name}_default"
        assert CLIENTS[name].endpoints == vendor.endpoints
        assert all(ep.vendor == name for ep in vendor.endpoints)


def test_the_finance_gate_is_read_from_the_loaders_declarations():
    """Before: the allowed cost types were written in ingest/finance.py, in the FINANCE suites and in a dbt
    accepted_values test; a new setting needed all three. Now a setting declared with its range is checked."""
    from dataclasses import replace
    from decimal import Decimal

    from expectations.suites import FINANCE, finance_dataset
    from ingest import finance

    for spec, dataset in zip(finance.SPECS, FINANCE, strict=True):
        kinds = {
            (c.expectation, c.kwargs.get("column"), tuple(c.kwargs.get("value_set") or ())) for c in dataset.checks
        }
        assert ("ExpectCompoundColumnsToBeUnique", None, ()) in kinds
        for column in spec.columns:
            if column.kind == "enum":
                assert ("ExpectColumnValuesToBeInSet", column.name, column.values) in kinds
    settings = next(s for s in finance.SPECS if s.table == "cs_settings")
    wider = {**finance.SETTING_RANGES, "goodwill_cap": (Decimal(0), Decimal(500))}
    columns = tuple(finance.enum("setting", wider) if c.name == "setting" else c for c in settings.columns)
    gate = finance_dataset(replace(settings, columns=columns))
    (allowed,) = [c.kwargs["value_set"] for c in gate.checks if c.expectation == "ExpectColumnValuesToBeInSet"]
    assert allowed == ["refund_share", "goodwill_cap"]
