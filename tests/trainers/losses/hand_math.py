"""Reference maths written with plain Python loops and `math`, independent of the torch code under test."""

from __future__ import annotations

import math


def to_lists(tensor) -> list:
    """A tensor (any dtype) as nested Python floats."""
    return tensor.detach().double().tolist()


def log_softmax(row: list[float], temperature: float = 1.0) -> list[float]:
    scaled = [value / temperature for value in row]
    top = max(scaled)
    log_norm = top + math.log(sum(math.exp(value - top) for value in scaled))
    return [value - log_norm for value in scaled]


def kl_rows(teacher: list[list[float]], student: list[list[float]], t_temp: float = 1.0, s_temp: float = 1.0) -> float:
    """Mean over rows of KL(softmax(teacher_row / t_temp) || softmax(student_row / s_temp))."""
    total = 0.0
    for teacher_row, student_row in zip(teacher, student, strict=True):
        log_q = log_softmax(teacher_row, t_temp)
        log_p = log_softmax(student_row, s_temp)
        total += sum(math.exp(lq) * (lq - lp) for lq, lp in zip(log_q, log_p, strict=True))
    return total / len(teacher)


def transpose(matrix: list[list[float]]) -> list[list[float]]:
    return [list(column) for column in zip(*matrix, strict=True)]


def cosine_matrix(a: list[list[float]], b: list[list[float]]) -> list[list[float]]:
    def norm(v: list[float]) -> float:
        return math.sqrt(sum(x * x for x in v))

    return [[sum(x * y for x, y in zip(u, v, strict=True)) / (norm(u) * norm(v)) for v in b] for u in a]
