"""transformers engine: the fallback when vLLM is absent, and the one later stages use for
hidden states and scoring. Batched ``generate`` with left padding; stop strings are
applied by transformers and the text is cut at them as vLLM does."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from pathlib import Path

from assay.engine.base import Completion, Engine, EngineSpec, Prompt, SamplingSpec, truncate_at_stop
from assay.errors import EngineError

log = logging.getLogger(__name__)


class HFEngine(Engine):
    name = "hf"
    loads_weights = True

    def __init__(self, checkpoint: Path, spec: EngineSpec) -> None:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.spec = spec
        self.torch = torch
        self.device = "cuda" if torch.cuda.is_available() else "cpu"
        started = time.time()
        self.tokenizer = AutoTokenizer.from_pretrained(checkpoint, padding_side="left")
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.model = AutoModelForCausalLM.from_pretrained(checkpoint, dtype=getattr(torch, spec.dtype)).to(
            self.device
        )
        self.model.eval()
        self.start_seconds = time.time() - started

    def _next_token_logprobs(self, contexts: list[list[int]], tokens: list[list[int]]) -> list[list[float]]:
        """One left-padded forward per batch, logits at the last position only."""
        torch = self.torch
        out: list[list[float]] = []
        size = self.spec.hf_batch_size
        for first in range(0, len(contexts), size):
            batch = contexts[first : first + size]
            padded = self.tokenizer.pad({"input_ids": batch}, return_tensors="pt").to(self.device)
            with torch.no_grad():
                logits = self.model(**padded, logits_to_keep=1).logits[:, -1].float()
            logprobs = torch.log_softmax(logits, dim=-1)
            for row, wanted in enumerate(tokens[first : first + size]):
                out.append([float(logprobs[row, t]) for t in wanted])
        return out

    def _start(self, sampling: SamplingSpec) -> None:
        self.torch.manual_seed(self.spec.seed if sampling.seed is None else sampling.seed)

    def _generate(self, prompts: Sequence[Prompt], sampling: SamplingSpec) -> list[Completion]:
        completions: list[Completion] = []
        size = max(1, self.spec.hf_batch_size // sampling.n)
        for start in range(0, len(prompts), size):
            batch = prompts[start : start + size]
            completions += self._generate_batch(batch, sampling)
        return completions

    def _generate_batch(self, prompts: Sequence[Prompt], sampling: SamplingSpec) -> list[Completion]:
        torch = self.torch
        texts = [self.render(p) for p in prompts]
        # Chat templates already hold the BOS token; raw prompts get the tokenizer's own.
        special = [isinstance(p, str) for p in prompts]
        encoded = [self.tokenizer(t, add_special_tokens=s)["input_ids"] for t, s in zip(texts, special)]
        batch = self.tokenizer.pad({"input_ids": encoded}, return_tensors="pt").to(self.device)
        kwargs = dict(
            max_new_tokens=sampling.max_tokens,
            num_return_sequences=sampling.n,
            do_sample=not sampling.greedy,
            pad_token_id=self.tokenizer.pad_token_id,
            return_dict_in_generate=True,
            output_scores=sampling.logprobs,
        )
        if not sampling.greedy:
            kwargs.update(temperature=sampling.temperature, top_p=sampling.top_p)
        else:
            kwargs.update(temperature=None, top_p=None, top_k=None)
        if sampling.stop:
            kwargs.update(
                stopping_criteria=[_StopStrings(self.tokenizer, sampling.stop, batch["input_ids"].shape[1])]
            )
        with torch.no_grad():
            out = self.model.generate(**batch, **kwargs)
        new_tokens = out.sequences[:, batch["input_ids"].shape[1] :]
        scores = None
        if sampling.logprobs:
            scores = self.model.compute_transition_scores(out.sequences, out.scores, normalize_logits=True)
        eos_ids = _eos_ids(self.model, self.tokenizer)
        completions = []
        for i in range(len(prompts)):
            c = Completion(texts=[], token_counts=[], logprobs=[] if scores is not None else None)
            for j in range(sampling.n):
                row = i * sampling.n + j
                ids = new_tokens[row].tolist()
                length = _length_until_eos(ids, eos_ids, self.tokenizer.pad_token_id)
                text = self.tokenizer.decode(ids[:length], skip_special_tokens=True)
                cut = truncate_at_stop(text, sampling.stop)
                if cut != text:
                    length = self._length_through_stop(ids[:length], sampling.stop)
                c.texts.append(cut)
                c.token_counts.append(length)
                if scores is not None:
                    c.logprobs.append(float(scores[row, :length].sum()))
            completions.append(c)
        return completions

    def _length_through_stop(self, ids: list[int], stop: Sequence[str]) -> int:
        """Tokens up to the one that completes a stop string (vLLM counts it too)."""
        for k in range(1, len(ids) + 1):
            text = self.tokenizer.decode(ids[:k], skip_special_tokens=True)
            if any(s in text for s in stop):
                return k
        return len(ids)

    def load_weights(self, checkpoint: Path) -> None:
        """The checkpoint's model in place of the current one (the tokenizer is the same:
        :func:`assay.engine.variants.same_model`)."""
        from transformers import AutoModelForCausalLM

        started = time.time()
        try:
            model = AutoModelForCausalLM.from_pretrained(
                checkpoint, dtype=getattr(self.torch, self.spec.dtype)
            )
        except Exception as error:  # noqa: BLE001 - any failure: the caller starts an engine of its own
            raise EngineError(f"transformers could not load the weights of {checkpoint}: {error}") from error
        self.model = model.to(self.device).eval()
        log.info("transformers: loaded the weights of %s in %.1f s", checkpoint, time.time() - started)

    def close(self) -> None:
        self.model = None


class _StopStrings:
    """Stops each sequence once its decoded continuation holds a stop string.

    transformers' own ``stop_strings`` needs a byte-level or sentencepiece vocabulary;
    decoding works with any tokenizer.
    """

    def __init__(self, tokenizer, stop: Sequence[str], prompt_length: int) -> None:
        self.tokenizer, self.stop, self.prompt_length = tokenizer, tuple(stop), prompt_length

    def __call__(self, input_ids, scores, **kwargs):
        import torch

        texts = self.tokenizer.batch_decode(input_ids[:, self.prompt_length :], skip_special_tokens=True)
        return torch.tensor([any(s in t for s in self.stop) for t in texts], device=input_ids.device)


def _eos_ids(model, tokenizer) -> set[int]:
    eos = model.generation_config.eos_token_id
    ids = set(eos if isinstance(eos, list) else [eos]) if eos is not None else set()
    if tokenizer.eos_token_id is not None:
        ids.add(tokenizer.eos_token_id)
    return ids


def _length_until_eos(ids: list[int], eos_ids: set[int], pad_id: int | None) -> int:
    """Generated tokens up to and including the first EOS (as vLLM counts them)."""
    for k, token in enumerate(ids):
        if token in eos_ids:
            return k + 1
    while ids and pad_id is not None and ids[-1] == pad_id and pad_id not in eos_ids:
        ids = ids[:-1]
    return len(ids)
