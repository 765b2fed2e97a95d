"""Arithmetic word problems the project generates itself, with exact integer answers.

Difficulty grows with the number of operations, the operations allowed and the size of
the numbers (``LEVELS``): level 1 is one single-digit addition or subtraction, level 3
chains two operations over numbers up to 20, level 5 chains three operations including
multiplication and exact division over numbers up to 30; levels above 5 add an operation
each. On 40 level-1 items SmolLM2-135M-Instruct answered about half right and Gemma-3-270M
(base) about one in eight, and both fall towards zero by level 5: accuracy spreads across
levels. Items are drawn by a seeded generator, evenly over levels, and no question appears
in two splits.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import pandas as pd


@dataclass(frozen=True)
class Level:
    operations: int
    ops: tuple[str, ...]
    max_operand: int


LEVELS = {
    1: Level(1, ("add", "sub"), 9),
    2: Level(1, ("add", "sub"), 30),
    3: Level(2, ("add", "sub"), 20),
    4: Level(2, ("add", "sub", "mul"), 20),
    5: Level(3, ("add", "sub", "mul", "div"), 30),
}


def level_spec(level: int) -> Level:
    if level in LEVELS:
        return LEVELS[level]
    return Level(level - 2, ("add", "sub", "mul", "div"), 10 * level)


NAMES = ("Ana", "Ben", "Chen", "Dara", "Eli", "Fatima", "Goran", "Hana", "Ivan", "Jade", "Kofi", "Lena")
ITEMS = ("apples", "marbles", "stickers", "coins", "books", "pencils", "cards", "shells", "stamps")


def make_problem(rng: random.Random, level: int) -> dict:
    """One problem of the given level; every intermediate value is a positive integer."""
    spec = level_spec(level)
    name, item = rng.choice(NAMES), rng.choice(ITEMS)
    value = rng.randint(2, spec.max_operand)
    sentences = [f"{name} has {value} {item}."]
    steps = []
    for i in range(spec.operations):
        then = "Then " if i else ""
        op = rng.choice(spec.ops)
        divisors = [d for d in range(2, 7) if value % d == 0]
        if (op == "div" and not divisors) or (op == "sub" and value < 2):
            op = "add"
        if op == "add":
            x = rng.randint(1, spec.max_operand)
            sentences.append(f"{then}{name} gets {x} more {item}.")
            steps.append(f"{value} + {x} = {value + x}.")
            value += x
        elif op == "sub":
            x = rng.randint(1, min(value - 1, spec.max_operand))
            sentences.append(f"{then}{name} gives {x} {item} to a friend.")
            steps.append(f"{value} - {x} = {value - x}.")
            value -= x
        elif op == "mul":
            x = rng.randint(2, 4)
            sentences.append(f"{then}the number of {item} {name} has becomes {x} times as large.")
            steps.append(f"{value} * {x} = {value * x}.")
            value *= x
        else:
            x = rng.choice(divisors)
            sentences.append(f"{then}{name} shares the {item} equally among {x} bags and keeps one bag.")
            steps.append(f"{value} / {x} = {value // x}.")
            value //= x
    question = " ".join(sentences) + f" How many {item} does {name} have now?"
    solution = " ".join(steps) + f"\n#### {value}"
    return {"question": question, "solution": solution, "answer": str(value), "difficulty": level}


def generate_splits(sizes: dict[str, int], levels: int, seed: int) -> dict[str, pd.DataFrame]:
    """Splits of the requested sizes, levels cycling 1..levels, no question in two splits."""
    rng = random.Random(seed)
    seen: set[str] = set()
    splits = {}
    for split, size in sizes.items():
        rows = []
        attempts = 0
        while len(rows) < size:
            attempts += 1
            if attempts > 100 * size + 1000:
                raise RuntimeError(f"could not draw {size} distinct problems for split {split!r}")
            level = len(rows) % levels + 1
            problem = make_problem(rng, level)
            if problem["question"] in seen:
                continue
            seen.add(problem["question"])
            rows.append({"id": f"arith-{split}-{len(rows):05d}", **problem})
        splits[split] = pd.DataFrame(rows, columns=["id", "question", "solution", "answer", "difficulty"])
    return splits
