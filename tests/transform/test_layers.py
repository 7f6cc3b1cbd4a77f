"""The dbt layers flow one way: staging reads sources, intermediate reads staging and intermediate, marts read
anything below them and other marts. Before: the P&L computation (intermediate) read two marts, and marts read
it back."""

from __future__ import annotations

import json

from pipeline.dbt import ensure_manifest

ORDER = {"staging": 0, "intermediate": 1, "marts": 2}


def layer(node: dict) -> str:
    return node["fqn"][1]  # project, layer folder, ...


def test_no_model_reads_a_layer_above_its_own():
    manifest = json.loads(ensure_manifest().read_text())
    models = {k: n for k, n in manifest["nodes"].items() if n["resource_type"] == "model"}
    assert {layer(n) for n in models.values()} == set(ORDER)
    upward = [
        f"{n['name']} ({layer(n)}) reads {models[p]['name']} ({layer(models[p])})"
        for n in models.values()
        for p in n["depends_on"]["nodes"]
        if p in models and ORDER[layer(models[p])] > ORDER[layer(n)]
    ]
    assert upward == []
