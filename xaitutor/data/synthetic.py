"""The three synthetic concept data sets of Espinosa Zarlenga et al., "Concept Embedding
Models", NeurIPS 2022 (as in the torch_explain package), generated from a seed.

Each function returns ``(x, c, y)``: ``x`` float32 ``(n, d)``, ``c`` float32 ``(n, k)``
with values in {0, 1}, ``y`` int64 ``(n,)``. The same seed gives the same data on every
machine (NumPy's PCG64 generator, then float32).
"""
from __future__ import annotations

import numpy as np
import torch
from torch import Tensor
from .. import _checks

__all__ = ["xor", "trigonometry", "dot", "load", "split", "DATASETS", "loan_applicants",
           "LOAN_FEATURES", "LOAN_GRAPH"]


def _check_n(n: int) -> None:
    if not isinstance(n, (int, np.integer)) or isinstance(n, bool) or n < 1:
        raise _checks.BadInput(f"n must be a positive int (number of samples), got {n!r}")


def _pack(x: np.ndarray, c: np.ndarray, y: np.ndarray) -> tuple[Tensor, Tensor, Tensor]:
    return (torch.as_tensor(x, dtype=torch.float32), torch.as_tensor(c, dtype=torch.float32),
            torch.as_tensor(y, dtype=torch.int64))


def xor(n: int = 1000, seed: int = 0) -> tuple[Tensor, Tensor, Tensor]:
    """XOR: x ~ U[0,1]², c_j = [x_j > 0.5], y = c_1 xor c_2.  d = 2, k = 2, 2 classes."""
    _check_n(n)
    x = np.random.default_rng(_checks.seed(seed)).uniform(0.0, 1.0, size=(n, 2))
    c = x > 0.5
    return _pack(x, c, np.logical_xor(c[:, 0], c[:, 1]))


def trigonometry(n: int = 1000, seed: int = 0) -> tuple[Tensor, Tensor, Tensor]:
    """Trigonometry: h ~ N(0, 2²)³, x = (sin h_i + h_i, cos h_i + h_i for i = 1..3,
    h1² + h2² + h3²), c_j = [h_j > 0], y = [h1 + h2 + h3 > 1].  d = 7, k = 3, 2 classes.

    The task is *not* a function of the concepts: the signs of h do not fix their sum.
    """
    _check_n(n)
    h = np.random.default_rng(_checks.seed(seed)).normal(0.0, 2.0, size=(n, 3))
    x = np.column_stack([f for j in range(3) for f in (np.sin(h[:, j]) + h[:, j],
                                                         np.cos(h[:, j]) + h[:, j])]
                        + [(h ** 2).sum(axis=1)])
    return _pack(x, h > 0, h.sum(axis=1) > 1)


def dot(n: int = 1000, seed: int = 0) -> tuple[Tensor, Tensor, Tensor]:
    """Dot: v1, v3 ~ N(0, 2²)², x = (v1 + v3, v1 − v3), c = ([v1·(1,1) > 0],
    [v3·(−1,−1) > 0]), y = [v1·v3 > 0].  d = 4, k = 2, 2 classes.

    The concepts say little about the task (the sign of a dot product): a concept
    bottleneck cannot solve it, a black box can.
    """
    _check_n(n)
    rng = np.random.default_rng(_checks.seed(seed))
    v1 = rng.normal(0.0, 2.0, size=(n, 2))
    v3 = rng.normal(0.0, 2.0, size=(n, 2))
    x = np.hstack([v1 + v3, v1 - v3])
    c = np.column_stack([v1 @ np.ones(2) > 0, v3 @ -np.ones(2) > 0])
    return _pack(x, c, (v1 * v3).sum(axis=1) > 0)


DATASETS = {"xor": xor, "trigonometry": trigonometry, "dot": dot}


def load(name: str, n: int = 1000, seed: int = 0) -> tuple[Tensor, Tensor, Tensor]:
    """``load("dot", n, seed)`` is ``dot(n, seed)``; the name picks the data set."""
    if name not in DATASETS:
        raise _checks.BadInput(f"unknown data set {name!r}; choose one of {sorted(DATASETS)}")
    return DATASETS[name](n, seed)


def split(*tensors: Tensor, train: float = 0.7, seed: int = 0):
    """Shuffle (seeded) and split tensors sharing their first dimension into a train part
    (fraction ``train``) and a test part: returns ``(train_tensors, test_tensors)``."""
    if not tensors:
        raise _checks.BadInput("pass at least one tensor to split")
    n = len(tensors[0])
    if any(len(t) != n for t in tensors):
        raise _checks.BadInput(f"tensors must share their first dimension, got {[len(t) for t in tensors]}")
    if not 0.0 < train < 1.0:
        raise _checks.BadInput(f"train is a fraction in (0, 1), got {train}")
    n_train = int(round(train * n))
    if n_train in (0, n):
        raise _checks.BadInput(f"with n={n} and train={train} one part would be empty; use more samples")
    order = torch.as_tensor(np.random.default_rng(_checks.seed(seed)).permutation(n))
    idx_train, idx_test = order[:n_train], order[n_train:]
    return (tuple(t[idx_train.to(t.device)] for t in tensors),
            tuple(t[idx_test.to(t.device)] for t in tensors))


# --- a structural causal model for notebook 06 ------------------------------------------------

LOAN_FEATURES = ("age", "education", "income", "debt", "savings")
LOAN_GRAPH = {1: [0], 2: [0, 1], 3: [1], 4: [0, 2]}     # node → parents (indices of LOAN_FEATURES)


def loan_applicants(n: int = 2000, seed: int = 0) -> tuple[Tensor, Tensor]:
    """Loan applicants drawn from a hand-written additive-noise SCM (notebook 06):

        age       ~ U(20, 65)                                  (years; nobody can change it)
        education = 12 + 0.04·(age − 20)         + N(0, 2²)    (years of schooling)
        income    = 5 + 2.5·education + 0.3·age  + N(0, 6²)    (k€ a year)
        debt      = 15 + 3·(education − 13)      + N(0, 4²)    (k€; study loans grow with schooling)
        savings   = −10 + 0.4·income + 0.1·age   + N(0, 5²)    (k€)

    and whether the loan was repaid: 1 when 0.10·income + 0.12·savings − 0.15·debt +
    0.3·(education − 13) + logistic noise is above its median. Columns follow
    ``LOAN_FEATURES``; ``LOAN_GRAPH`` is the graph (each node's parents). Returns ``x``
    float32 ``(n, 5)`` and ``y`` int64 ``(n,)``."""
    _check_n(n)
    r = np.random.default_rng(_checks.seed(seed))
    age = r.uniform(20, 65, n)
    education = 12 + 0.04 * (age - 20) + r.normal(0, 2, n)
    income = 5 + 2.5 * education + 0.3 * age + r.normal(0, 6, n)
    debt = 15 + 3 * (education - 13) + r.normal(0, 4, n)
    savings = -10 + 0.4 * income + 0.1 * age + r.normal(0, 5, n)
    score = 0.10 * income + 0.12 * savings - 0.15 * debt + 0.3 * (education - 13) + r.logistic(0, 1, n)
    x = np.stack([age, education, income, debt, savings], 1)
    return (torch.as_tensor(x, dtype=torch.float32),
            torch.as_tensor(score > np.median(score), dtype=torch.int64))
