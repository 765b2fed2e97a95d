"""TRL's fused LM head over the scored positions only, on the CPU (assay.training.
score_responses_only): the SFT and DPO trainers log the same losses as with every position
projected, and the head sees only the response tokens."""

import pandas as pd
import pytest

from assay.finetune import finetuned
from assay.preference import policies
from assay.training import score_responses_only


@pytest.fixture
def head_rows(monkeypatch) -> list[int]:
    """The positions TRL's fused head projects, per call; TRL's own choice of path is put
    back after the test (the wrap is process-wide, as in a job)."""
    from trl.trainer import utils

    monkeypatch.setattr(utils, "_use_triton", getattr(utils._use_triton, "__wrapped__", utils._use_triton))
    rows: list[int] = []
    real = utils._ChunkedLogProbFunction

    class Spy(real):
        @classmethod
        def apply(cls, hidden, *rest):
            rows.append(hidden.shape[0])
            return real.apply(hidden, *rest)

    monkeypatch.setattr(utils, "_ChunkedLogProbFunction", Spy)
    return rows


def labelled_positions(trainer_class, monkeypatch) -> list[int]:
    """The scored (label != -100, shifted) positions of every batch the trainer computes a
    loss on."""
    counts: list[int] = []
    real = trainer_class.compute_loss

    def compute_loss(self, model, inputs, *args, **kwargs):
        labels = inputs.get("labels")
        if labels is None:  # DPO builds its labels from the completion mask
            labels = inputs["completion_mask"].masked_fill(inputs["completion_mask"] == 0, -100)
        counts.append(int((labels[:, 1:] != -100).sum()))
        return real(self, model, inputs, *args, **kwargs)

    monkeypatch.setattr(trainer_class, "compute_loss", compute_loss)
    return counts


def test_sft_loss_is_the_same_with_only_completions_projected(
    tiny_checkpoint, tmp_path, spec_of, head_rows, monkeypatch
):
    from trl import SFTTrainer

    items = pd.DataFrame(
        {"question": [f"what is {i} + 2 ?" for i in range(6)], "solution": ["the answer is 42"] * 6}
    )
    spec = spec_of(
        "finetuned", learning_rate=5e-2, batch_size=3, precision="fp32", max_length=64, max_steps=3
    )
    scored = labelled_positions(SFTTrainer, monkeypatch)
    with monkeypatch.context() as before:
        before.setattr(finetuned, "score_responses_only", lambda: False)
        every = finetune_losses(tiny_checkpoint, items, spec, tmp_path / "every")
    projected_every, head_rows[:] = list(head_rows), []
    compact = finetune_losses(tiny_checkpoint, items, spec, tmp_path / "compact")
    assert compact == pytest.approx(every, rel=1e-5)
    assert every[0] != pytest.approx(every[-1], rel=1e-3)  # it trained
    assert head_rows == scored[3:]  # the completion positions only
    assert all(a > b for a, b in zip(projected_every, head_rows))  # before: prompts too


def finetune_losses(checkpoint, items, spec, out) -> list[float]:
    out.mkdir()
    finetuned.finetune(checkpoint, items, spec, out)
    return pd.read_parquet(out / "train_log.parquet")["loss"].tolist()


def test_dpo_head_projects_only_the_responses(tiny_checkpoint, tmp_path, spec_of, head_rows, monkeypatch):
    from trl import DPOTrainer

    from assay.preference.tracking import sequence_logprobs
    from assay.training import load_trainable

    model, tokenizer = load_trainable(tiny_checkpoint, "fp32")
    pairs = pd.DataFrame(
        {
            "pair_id": [f"p{i}" for i in range(4)],
            "prompt": ["question : what is 1 + 2 ? answer :"] * 2 + ["the answer is"] * 2,
            "chosen": [" 3", " 3 # # # 3", " 42", " 42 # # # 7"],
            "rejected": [" 7", " 7 + 1", " 7", " 1 + 2"],
            "split": "train",
        }
    )
    before = sequence_logprobs(model, tokenizer, pairs)
    spec = spec_of("policies", variant="sigmoid", batch_size=2, max_steps=2, precision="fp32", track_every=1)
    scored = labelled_positions(DPOTrainer, monkeypatch)
    assert score_responses_only()
    policies.train_policy(tiny_checkpoint, pairs, pairs["pair_id"].tolist(), spec, tmp_path, before)
    assert head_rows == scored and len(scored) == 2
