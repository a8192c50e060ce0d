"""How far guessing gets in the quiz: rules that never read the question, scored against the answers.

Every single-letter quiz question of every solution notebook is parsed (the question, its
options A-D, the answer the solution cell gives). Each rule picks an option without
understanding the question: a fixed letter, the longest or the shortest option (characters
or words), or the option sharing most words with the question. Ties are shared (a rule that
ties the right option with one other earns half a point). Target: no rule above 1/3.

    .venv/bin/python bench/quiz_guessing.py
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
TARGET = 1 / 3
QUESTION = re.compile(r"^\*\*(\d+)\.\*\*\s*(.*)", re.S | re.M)
SAME = 0.6  # questions sharing this share of their words ask the same thing
OPTION = re.compile(r"^\* \*\*([A-D])\.\*\* (.+)$", re.M)
ANSWER = re.compile(r"^answer_q(\d+) = (.+)$", re.M)


@dataclass(frozen=True)
class Question:
    lesson: str
    number: int
    text: str
    options: dict[str, str]
    answer: str | tuple[str, ...]


def _plain(markdown: str) -> str:
    return re.sub(r"[`*]", "", markdown).strip()


def questions(root: Path = ROOT) -> list[Question]:
    """Every quiz question of the solution notebooks, with its options and the solution's answer."""
    found = []
    for path in sorted((root / "solutions").glob("*/*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        answers = {}
        for cell in nb.cells:
            if cell.cell_type == "code" and cell.metadata.get("nbgrader", {}).get("solution"):
                for number, value in ANSWER.findall(cell.source):
                    answers[int(number)] = eval(value, {})  # a letter or a tuple of letters
        for cell in nb.cells:
            match = QUESTION.search(cell.source) if cell.cell_type == "markdown" else None
            if not match:
                continue
            number = int(match.group(1))
            stem = OPTION.split(match.group(2))[0]
            found.append(Question(path.stem, number, _plain(stem), {k: _plain(v) for k, v in
                                                                    OPTION.findall(cell.source)}, answers[number]))
    return found


def _words(text: str) -> set[str]:
    return {w for w in re.findall(r"[a-z0-9_]+", text.lower()) if len(w) > 3}


def _pick(scores: dict[str, float], best) -> set[str]:
    target = best(scores.values())
    return {letter for letter, score in scores.items() if score == target}


RULES = {
    **{f"always {letter}": (lambda q, letter=letter: {letter}) for letter in "ABCD"},
    "longest option": lambda q: _pick({k: len(v) for k, v in q.options.items()}, max),
    "shortest option": lambda q: _pick({k: len(v) for k, v in q.options.items()}, min),
    "most words": lambda q: _pick({k: len(v.split()) for k, v in q.options.items()}, max),
    "fewest words": lambda q: _pick({k: len(v.split()) for k, v in q.options.items()}, min),
    "most words shared with the question": lambda q: _pick(
        {k: len(_words(v) & _words(q.text)) for k, v in q.options.items()}, max),
}


def hit_rates(qs: list[Question]) -> dict[str, float]:
    """Expected share of the single-letter questions each rule gets right (ties shared)."""
    single = [q for q in qs if isinstance(q.answer, str)]
    return {name: sum((q.answer in picked) / len(picked) for q in single for picked in [rule(q)]) / len(single)
            for name, rule in RULES.items()}


def problems(qs: list[Question]) -> list[str]:
    """What makes a quiz unfit to grade: options missing, an answer that is no option, a question asked twice."""
    found = []
    seen: dict[str, set[str]] = {}
    for q in qs:
        where = f"{q.lesson} question {q.number}"
        if sorted(q.options) != ["A", "B", "C", "D"]:
            found.append(f"{where}: options {sorted(q.options)}, expected A-D")
        letters = (q.answer,) if isinstance(q.answer, str) else q.answer
        if not all(letter in q.options for letter in letters):
            found.append(f"{where}: answer {q.answer!r} is not among its options")
        words = _words(q.text)
        for other, other_words in seen.items():
            if len(words & other_words) >= SAME * len(words | other_words):
                found.append(f"{where} asks {other} again")
        seen[where] = words
    return found


def main() -> int:
    sys.path.insert(0, str(Path(__file__).parent))
    from _common import report

    qs = questions()
    single = [q for q in qs if isinstance(q.answer, str)]
    rates = hit_rates(qs)
    letters = {letter: sum(q.answer == letter for q in single) for letter in "ABCD"}
    for name, rate in sorted(rates.items(), key=lambda item: -item[1]):
        print(f"{name:38} {rate:6.1%}")
    best = max(rates, key=rates.get)
    print(f"{len(single)} single-letter questions ({len(qs) - len(single)} more with several blanks); answers by "
          f"letter {letters}; best rule: {best}, {rates[best]:.1%} (target <= {TARGET:.1%})")
    report("quiz_guessing", {"questions": len(single), "multi_blank_questions": len(qs) - len(single),
                             "answers_by_letter": letters, "hit_rates": {k: round(v, 3) for k, v in rates.items()},
                             "best_rule": best, "best_rate": round(rates[best], 3), "target": round(TARGET, 3),
                             "problems": problems(qs)}, "python bench/quiz_guessing.py")
    return 0 if rates[best] <= TARGET and not problems(qs) else 1


if __name__ == "__main__":
    sys.exit(main())
