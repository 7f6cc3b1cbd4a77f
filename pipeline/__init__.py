"""Small helpers the DAGs, the demo and the tests share to run the transform side (dbt)."""
