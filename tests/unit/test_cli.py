import yaml

from assay.artifacts import ArtifactRef, publish
from assay.cli import main
from assay.config import load_study
from assay.plan import build_plan


def _study(tmp_path):
    path = tmp_path / "study.yaml"
    path.write_text(yaml.safe_dump({"study": "cli", "store": str(tmp_path / "store")}))
    return path


def _publish(store, stage, key, spec=None):
    ref = ArtifactRef(stage=stage, key=key, spec=spec or {"x": 1}, upstream={}, path=store / stage / key)
    with publish(ref) as staging:
        (staging.dir / "data.txt").write_text("x" * 100)


def test_ls_show_and_gc_keep_what_a_study_uses(tmp_path, capsys):
    study = _study(tmp_path)
    store = tmp_path / "store"
    plan = build_plan(load_study([study]))
    kept = plan.task
    _publish(store, "tasks", kept.key, kept.spec.to_dict())
    _publish(store, "tasks", "ffffffffffffffff")
    (store / ".tmp" / "evaluate-0000000000000000-dead").mkdir(parents=True)

    assert main(["--store", str(store), "ls"]) == 0
    listing = capsys.readouterr().out
    assert kept.key in listing and "ffffffffffffffff" in listing

    assert main(["--store", str(store), "show", kept.key[:6]]) == 0
    assert f'"key": "{kept.key}"' in capsys.readouterr().out
    assert main(["--store", str(store), "show", "abcabc"]) == 1

    assert main(["--store", str(store), "gc", "--keep", str(study)]) == 0
    dry = capsys.readouterr().out
    assert "would delete" in dry and "ffffffffffffffff" in dry and "evaluate-0000000000000000-dead" in dry
    assert (store / "tasks" / "ffffffffffffffff").exists()

    assert main(["--store", str(store), "gc", "--keep", str(study), "--yes"]) == 0
    assert not (store / "tasks" / "ffffffffffffffff").exists()
    assert not (store / ".tmp" / "evaluate-0000000000000000-dead").exists()
    assert (store / "tasks" / kept.key / "manifest.json").exists()


def test_status_tells_done_running_and_missing(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    study = _study(tmp_path)
    store = tmp_path / "store"
    plan = build_plan(load_study([study]))
    _publish(store, "tasks", plan.task.key)
    running = plan.evaluations["gemma3-270m"]
    (store / ".tmp" / f"evaluate-{running.key}-1234abcd").mkdir(parents=True)
    log = tmp_path / "logs" / "cli" / "evaluate" / f"{running.key}.log"
    log.parent.mkdir(parents=True)
    log.write_text(
        "2026-01-01 INFO assay.engine.base: vllm: 32/64 prompts (50%), 200 output tok/s, ETA 9 s\n"
    )
    assert main(["status", str(study)]) == 0
    out = capsys.readouterr().out
    task_line = next(line for line in out.splitlines() if line.startswith("tasks"))
    running_line = next(line for line in out.splitlines() if running.key in line)
    assert "done" in task_line and "running" in running_line and "32/64 prompts (50%)" in running_line
    assert f"1 done, 1 running, {len(plan.all()) - 2} missing" in out


def test_bad_study_file_is_a_clear_error(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({"evaluate": {"limit": -1}}))
    assert main(["status", str(bad)]) == 1
    assert "ConfigError: evaluate.limit" in capsys.readouterr().err
