import json
import multiprocessing
import os

import pytest

from assay.artifacts import (
    MANIFEST,
    AlreadyPublished,
    ArtifactRef,
    artifact_key,
    find_artifact,
    iter_artifacts,
    leftovers,
    publish,
)

SPEC = {"source": "x", "dtype": "bfloat16", "sampling": {"n": 4, "temperature": 0.7}}


def test_key_is_stable_under_reordering_of_spec_keys():
    reordered = {"sampling": {"temperature": 0.7, "n": 4}, "dtype": "bfloat16", "source": "x"}
    assert artifact_key("s", 1, SPEC, {"a": "1", "b": "2"}) == artifact_key(
        "s", 1, reordered, {"b": "2", "a": "1"}
    )


@pytest.mark.parametrize(
    "change",
    [
        lambda s: s.update(source="y"),
        lambda s: s.update(dtype="float32"),
        lambda s: s["sampling"].update(n=5),
        lambda s: s["sampling"].update(temperature=0.8),
        lambda s: s.update(seed=1),
    ],
)
def test_key_changes_when_any_spec_field_changes(change):
    changed = json.loads(json.dumps(SPEC))
    change(changed)
    assert artifact_key("s", 1, SPEC, {}) != artifact_key("s", 1, changed, {})


def test_key_changes_when_upstream_stage_or_version_changes():
    base = artifact_key("s", 1, SPEC, {"model": "aaaa"})
    assert base != artifact_key("s", 1, SPEC, {"model": "bbbb"})
    assert base != artifact_key("t", 1, SPEC, {"model": "aaaa"})
    assert base != artifact_key("s", 2, SPEC, {"model": "aaaa"})


def _ref(store, key="0123456789abcdef"):
    return ArtifactRef(stage="demo", key=key, spec=SPEC, upstream={"up": "ffff"}, path=store / "demo" / key)


def test_publish_writes_manifest_and_moves_into_place(tmp_path):
    ref = _ref(tmp_path)
    with publish(ref) as staging:
        (staging.dir / "table.txt").write_text("hello")
        staging.record(rows=3)
        assert not ref.path.exists()
    manifest = json.loads((ref.path / MANIFEST).read_text())
    assert manifest["key"] == ref.key and manifest["spec"] == SPEC and manifest["rows"] == 3
    assert manifest["upstream"] == {"up": "ffff"} and "torch" in manifest["versions"]
    assert manifest["wall_time_s"] >= 0 and manifest["created"]
    assert (ref.path / "table.txt").read_text() == "hello"
    assert leftovers(tmp_path) == []


def test_publish_onto_empty_output_folders_made_by_snakemake(tmp_path):
    ref = _ref(tmp_path)
    (ref.path / "checkpoint").mkdir(parents=True)
    with publish(ref) as staging:
        (staging.dir / "checkpoint").mkdir()
        (staging.dir / "checkpoint" / "config.json").write_text("{}")
    assert (ref.path / "checkpoint" / "config.json").is_file()


def test_failed_job_publishes_nothing_and_leaves_nothing(tmp_path):
    ref = _ref(tmp_path)
    with pytest.raises(RuntimeError):
        with publish(ref) as staging:
            (staging.dir / "half.txt").write_text("half")
            raise RuntimeError("crash")
    assert not ref.path.exists()
    assert list(iter_artifacts(tmp_path)) == []
    assert leftovers(tmp_path) == []


def _crash_mid_write(store):
    with publish(_ref(store)) as staging:
        (staging.dir / "half.txt").write_text("half")
        os._exit(9)  # like kill -9: no cleanup runs


def test_killed_job_leaves_only_a_reported_staging_folder(tmp_path):
    process = multiprocessing.get_context("fork").Process(target=_crash_mid_write, args=(tmp_path,))
    process.start()
    process.join()
    assert process.exitcode == 9
    assert list(iter_artifacts(tmp_path)) == []
    assert not (_ref(tmp_path).path / MANIFEST).exists()
    stale = leftovers(tmp_path)
    assert len(stale) == 1 and (stale[0] / "half.txt").exists()


def test_second_publisher_of_a_finished_key_never_runs_its_body(tmp_path):
    ref = _ref(tmp_path)
    with publish(ref) as staging:
        (staging.dir / "x").write_text("first")
    ran = False
    with pytest.raises(AlreadyPublished, match="reusing it"):
        with publish(ref) as staging:
            ran = True
    assert not ran and (ref.path / "x").read_text() == "first"
    assert leftovers(tmp_path) == [] and not any((tmp_path / ".locks").iterdir())


def test_find_artifact_by_unique_prefix(tmp_path):
    for key in ("aaaa000000000000", "aaab000000000000"):
        with publish(_ref(tmp_path, key)):
            pass
    assert find_artifact(tmp_path, "aaaa").name == "aaaa000000000000"
    assert find_artifact(tmp_path, "ffff") is None
    with pytest.raises(KeyError, match="ambiguous"):
        find_artifact(tmp_path, "aaa")
