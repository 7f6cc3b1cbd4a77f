"""The sandbox: a simulated subscription-box company behind local emulators of its four vendors.

Used by the demo, the tests and the benchmarks; never imported by `ingest/` or `dags/`.
"""
