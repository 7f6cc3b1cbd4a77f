"""The bench's figures come from its stages' walls inside one run: the goals' ratios, the daily run, and dbt's
floor (the daily run with the floor's build in place of the real one); a failed stage gives no figure, never
half of one."""

from __future__ import annotations

from bench.__main__ import Measured, markdown, summarize


def stages(**walls: float) -> dict[str, Measured]:
    measured = {name: Measured(wall_s=wall, cpu_s=wall, peak_rss_mib=100) for name, wall in walls.items()}
    measured["extract_land"]["records"] = 650_000
    return measured


RUN = {
    "extract_land": 10.0, "load": 4.0, "ctas_reference": 3.6, "dbt_models": 9.0, "dbt_full": 12.0,
    "hand_sql_reference": 3.0, "gx_gate": 3.0, "publish": 1.0,
    "daily_extract_land": 1.0, "daily_load": 1.5, "daily_freshness": 4.0, "dbt_incremental": 10.0,
    "daily_gx_gate": 2.0, "daily_publish": 1.5,
    "dbt_floor_models": 6.0, "dbt_floor_full": 9.0, "dbt_floor_daily": 8.0,
}  # fmt: skip


def test_the_floor_and_the_goals_come_from_the_same_run():
    result = summarize("demo", 1, stages(**RUN), emulator_peak_mib=0)
    assert result["daily_run_wall_s"] == 20.0
    assert result["dbt_models_vs_hand_sql"] == 3.0 and result["dbt_build_vs_hand_sql"] == 4.0
    assert result["dbt_floor"] == {
        "models_s": 6.0,
        "full_build_s": 9.0,
        "daily_build_s": 8.0,
        "models_vs_hand_sql": 2.0,
        "full_build_vs_hand_sql": 3.0,
        "daily_run_s": 18.0,  # 1 + 1.5 + 4 + 2 + 1.5 of the daily stages, and the floor's 8 for dbt
    }
    assert result["goals"]["daily_run_wall_s"]["met"] is False
    assert "daily build 8.0 s; the daily run with that build in place of the real one: 18.0 s" in markdown(result)


def test_a_failed_floor_stage_gives_no_floor_figure():
    run = stages(**RUN)
    run["dbt_floor_daily"]["failed"] = "timed out after 600 s"
    result = summarize("demo", 1, run, emulator_peak_mib=0)
    assert result["dbt_floor"]["daily_build_s"] is None and result["dbt_floor"]["daily_run_s"] is None
    assert result["dbt_floor"]["models_s"] == 6.0
    assert result["daily_run_wall_s"] == 20.0  # the pipeline's own figures stand
