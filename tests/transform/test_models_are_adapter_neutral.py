"""The models switch warehouses by dbt target (architecture: "no DuckDB-only SQL outside small macros")."""

import re
from pathlib import Path

MODELS = Path(__file__).resolve().parents[2] / "dbt_project" / "models"

# DuckDB (or DuckDB-and-few-others) syntax a model must reach through a macro instead
DUCKDB_ONLY = {
    "star exclude": r"\*\s*exclude\s*\(",
    "qualify": r"\bqualify\b",
    "string_agg (use dbt.listagg)": r"\bstring_agg\s*\(",
    "list functions": r"\blist_\w+\s*\(",
    "JSON functions": r"\bjson_\w+\s*\(",
    "lambda": r"\blambda\b",
    ":: cast": r"::",
    "strftime/strptime": r"\bstr[fp]time\s*\(",
}


def model_sql(path: Path) -> str:
    """The model's own SQL: without comments and without what Jinja renders (macro calls may be dialect-specific)."""
    text = re.sub(r"\{#.*?#\}|\{\{.*?\}\}|\{%.*?%\}", "", path.read_text(), flags=re.S)
    return re.sub(r"--[^\n]*", "", text)


def test_no_model_uses_duckdb_only_sql_outside_a_macro():
    found = [
        f"{path.relative_to(MODELS)}: {name}"
        for path in sorted(MODELS.rglob("*.sql"))
        for name, pattern in DUCKDB_ONLY.items()
        if re.search(pattern, model_sql(path), flags=re.I)
    ]
    assert len(list(MODELS.rglob("*.sql"))) > 20  # the scan saw the project
    assert not found, found
