"""Arithmetic word problems the project generates itself, with exact integer answers.

Difficulty level L (1..levels) is the number of operations in the problem, and operand
magnitudes grow with L: level 1 is one small addition or subtraction; level 5 chains five
operations over larger numbers, including an exact division. The small shipped models
get many level-1 items right and few at level 5, so accuracy spreads across levels.
Items are drawn by a seeded generator, evenly over levels, and de-duplicated across
splits (a question never appears in two splits).
"""

from __future__ import annotations

import random

import pandas as pd

NAMES = ("Ana", "Ben", "Chen", "Dara", "Eli", "Fatima", "Goran", "Hana", "Ivan", "Jade", "Kofi", "Lena")
ITEMS = ("apples", "marbles", "stickers", "coins", "books", "pencils", "cards", "shells", "stamps")


def _operand(rng: random.Random, level: int) -> int:
    return rng.randint(2, 5 + 5 * level)


def make_problem(rng: random.Random, level: int) -> dict:
    """One problem with ``level`` operations; values stay positive integers."""
    name, item = rng.choice(NAMES), rng.choice(ITEMS)
    value = rng.randint(3, 10 * level + 5)
    sentences = [f"{name} has {value} {item}."]
    steps = []
    ops = ["add", "sub"] if level == 1 else ["add", "sub", "mul", "div"]
    for _ in range(level):
        op = rng.choice(ops)
        if op == "div":
            divisors = [d for d in range(2, 7) if value % d == 0 and value // d >= 1]
            op = "div" if divisors else "add"
        if op == "add":
            x = _operand(rng, level)
            sentences.append(f"Then {name} gets {x} more {item}.")
            steps.append(f"{value} + {x} = {value + x}.")
            value += x
        elif op == "sub":
            if value <= 1:
                x = _operand(rng, level)
                sentences.append(f"Then {name} gets {x} more {item}.")
                steps.append(f"{value} + {x} = {value + x}.")
                value += x
                continue
            x = rng.randint(1, value - 1)
            sentences.append(f"Then {name} gives {x} {item} to a friend.")
            steps.append(f"{value} - {x} = {value - x}.")
            value -= x
        elif op == "mul":
            x = rng.randint(2, 3 + level // 2)
            sentences.append(f"Then the number of {item} {name} has becomes {x} times as large.")
            steps.append(f"{value} * {x} = {value * x}.")
            value *= x
        else:
            x = rng.choice(divisors)
            sentences.append(f"Then {name} shares the {item} equally among {x} bags and keeps one bag.")
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
