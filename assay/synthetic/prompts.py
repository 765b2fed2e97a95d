"""Prompts of BARE and its baselines, and parsing of what the models write back.

Every item is written as an example block::

    EXAMPLE START
    Question: <question>
    Answer: <worked solution ending with a line '#### <number>'>
    EXAMPLE END

* base few-shot (BARE's first stage): a short task description, the 3 real examples as
  blocks, and an open ``EXAMPLE START``; the base model continues it and stops at
  ``EXAMPLE END`` (METHODS section 1: temperature 0.7).
* instruct few-shot: the same description and examples in one user turn, asking for one
  new example in the same format.
* refine (BARE's second stage): the instruct model sees the examples and a base draft and
  is asked to improve it, in the words of the paper: closer in style to the examples,
  unambiguous, errors corrected, theme unchanged, only the improved item as output.

``parse_item`` turns a completion into (question, solution, answer) or a reject reason.
A valid item needs a ``Question:`` field, an ``Answer:`` field and a final
``#### <number>`` line (the task's answer format): the last is what the student learns to
write and what the evaluation extracts.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from assay.engine.base import Prompt
from assay.tasks.base import normalize_number

START, END = "EXAMPLE START", "EXAMPLE END"
STOP = (END,)
DESCRIPTION = (
    "The following are examples of grade-school math word problems, each with a short worked "
    "solution that ends with the final numeric answer on its own line as '#### <number>'."
)
NEW_EXAMPLE_REQUEST = (
    "Write one new example of the same kind: a new problem (not a copy of the examples) and its "
    f"worked solution, in exactly the same format, starting with {START} and ending with {END}. "
    "Output only the example."
)
REFINE_REQUEST = (
    "Below is a draft of a new example. Improve it: edit it to be closer in style to the examples, "
    "make the problem unambiguous, correct any errors (the solution and the final answer must follow "
    "from the problem), and do not change its theme. Output only the improved example, starting with "
    f"{START} and ending with {END}."
)
FINAL_ANSWER = re.compile(r"####\s*(-?[\d,]*\.?\d+)")


def example_block(question: str, solution: str) -> str:
    return f"{START}\nQuestion: {question.strip()}\nAnswer: {solution.strip()}\n{END}"


def examples_text(examples: Sequence[dict]) -> str:
    return "\n\n".join(example_block(e["question"], e["solution"]) for e in examples)


def base_prompt(examples: Sequence[dict]) -> str:
    """The base model's completion prompt: description, examples, an open block."""
    return f"{DESCRIPTION}\n\n{examples_text(examples)}\n\n{START}\nQuestion:"


def instruct_prompt(examples: Sequence[dict]) -> Prompt:
    return [
        {"role": "user", "content": f"{DESCRIPTION}\n\n{examples_text(examples)}\n\n{NEW_EXAMPLE_REQUEST}"}
    ]


def refine_prompt(examples: Sequence[dict], draft: str) -> Prompt:
    draft_block = f"{START}\n{draft.strip()}\n{END}"
    body = f"{DESCRIPTION}\n\n{examples_text(examples)}\n\n{REFINE_REQUEST}\n\nDraft:\n{draft_block}"
    return [{"role": "user", "content": body}]


def base_draft(completion: str) -> str:
    """The base prompt ends inside the block at ``Question:``: put it back on the draft."""
    return "Question:" + completion.split(END)[0].split(START)[0].rstrip()


@dataclass(frozen=True)
class Parsed:
    question: str | None = None
    solution: str | None = None
    answer: str | None = None
    reject: str | None = None
    repair: str | None = None  # what was repaired, for a near-miss accepted with ``repair``


QUESTION_ALIASES = re.compile(r"^(?:Q|Problem)\s*:", re.I | re.M)
ANSWER_ALIASES = re.compile(r"^(?:A|Solution)\s*:", re.I | re.M)
STATED_ANSWER = re.compile(
    r"(?:the (?:final )?answer is|answer\s*[:=]|=)\s*\$?(-?[\d,]*\.?\d+)\s*\.?\s*$", re.I
)


def repair_item(text: str) -> tuple[str, list[str]]:
    """A near-miss draft made parseable, and the repairs made (empty when none applied):
    'Q:'/'Problem:' for 'Question:', 'A:'/'Solution:' for 'Answer:', and a final
    '#### <number>' line from a solution that ends by stating its number."""
    repairs = []
    body = text.split(END)[0]
    if "Question:" not in body and QUESTION_ALIASES.search(body):
        body = QUESTION_ALIASES.sub("Question:", body, count=1)
        repairs.append("question label")
    if "Answer:" not in body and ANSWER_ALIASES.search(body):
        body = ANSWER_ALIASES.sub("Answer:", body, count=1)
        repairs.append("answer label")
    if "Answer:" in body and not FINAL_ANSWER.search(body):
        stated = STATED_ANSWER.search(body.rstrip())
        if stated and normalize_number(stated.group(1)) is not None:
            body = f"{body.rstrip()}\n#### {stated.group(1)}"
            repairs.append("final answer line")
    return body, repairs


def parse_item(text: str, repair: bool = False) -> Parsed:
    """(question, solution, answer) from one block's text, or the reason it is rejected.
    With ``repair``, a draft that fails is repaired (``repair_item``) and parsed again."""
    parsed = _parse(text)
    if parsed.reject is None or not repair:
        return parsed
    fixed, repairs = repair_item(text)
    if not repairs:
        return parsed
    again = _parse(fixed)
    if again.reject is not None:
        return parsed
    return Parsed(again.question, again.solution, again.answer, repair=", ".join(repairs))


def _parse(text: str) -> Parsed:
    body = text.split(END)[0].strip()
    if not body or body == START:
        return Parsed(reject="empty")
    question_at = body.find("Question:")
    if question_at < 0:
        return Parsed(reject="no 'Question:' field")
    body = body[question_at:].split(START)[0]  # a second block begun by the model is not this item
    question_at = 0
    answer_at = body.find("Answer:", question_at)
    if answer_at < 0:
        return Parsed(reject="no 'Answer:' field")
    question = body[question_at + len("Question:") : answer_at].strip()
    solution = body[answer_at + len("Answer:") :].strip()
    if not question:
        return Parsed(reject="empty question")
    match = FINAL_ANSWER.search(solution)
    if not match or normalize_number(match.group(1)) is None:
        return Parsed(reject="no final '#### <number>' line")
    solution = solution[: match.end()].strip()  # nothing after the final answer
    return Parsed(question=question, solution=solution, answer=normalize_number(match.group(1)))
