"""Concept bottleneck models (Koh et al. 2020) and concept embedding models
(Espinosa Zarlenga et al. 2022), with concept interventions.

Every model is called the same way: ``c_prob, y_logits = model(x)`` with ``c_prob`` the
predicted concept probabilities ``(n, k)`` (``None`` for a black box) and ``y_logits``
``(n, n_classes)``. ``model(x, c_true, mask)`` feeds the task head the true concept
values wherever ``mask`` is True: that is a concept intervention.
"""
from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from . import _checks
from .core import train

__all__ = ["ConceptModel", "check_data", "ConceptBottleneckModel", "ConceptEmbeddingModel", "BlackBox", "fit", "intervene",
           "joint_loss", "accuracy", "intervention_curve", "truth_table", "KINDS", "MODES",
           "MODELS"]

KINDS = ("cbm", "cem", "blackbox")
MODES = ("joint", "sequential", "independent")
#: The models the course compares: display name → (kind, mode) for :func:`fit`.
MODELS = {
    "CBM, joint": ("cbm", "joint"),
    "CBM, sequential": ("cbm", "sequential"),
    "CBM, independent": ("cbm", "independent"),
    "CEM": ("cem", "joint"),
    "black box": ("blackbox", "joint"),
}


def _mlp(sizes: Sequence[int], last_activation: bool = False) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2 or last_activation:
            layers.append(nn.LeakyReLU())
    return nn.Sequential(*layers)


class ConceptModel(nn.Module):
    """Shared door checks and the ``(c_prob, y_logits)`` calling convention."""

    kind = ""

    def __init__(self, n_features: int, n_concepts: int, n_classes: int):
        super().__init__()
        self.n_features, self.n_concepts, self.n_classes = n_features, n_concepts, n_classes
        self.mode = "joint"

    def _check_x(self, x: Tensor) -> None:
        if not isinstance(x, Tensor):
            raise _checks.BadInputType(f"x must be a torch.Tensor, got {type(x).__name__}")
        if x.dim() != 2 or x.shape[1] != self.n_features:
            fix = ("; one point needs a batch dimension: x.unsqueeze(0)"
                   if x.shape == (self.n_features,) else
                   f"; this model was trained on {self.n_features} features")
            raise _checks.BadInput(f"x must have shape (n, {self.n_features}), got {tuple(x.shape)}{fix}")
        device = next(self.parameters()).device
        if x.device != device:
            raise _checks.BadInput(f"x is on {x.device} but the model is on {device}; "
                                   f"move one of them, e.g. x.to({str(device)!r})")

    def forward_logits(self, x: Tensor, c_true: Tensor | None = None,
                       mask: Tensor | None = None) -> tuple[Tensor | None, Tensor]:
        raise NotImplementedError

    def forward(self, x: Tensor, c_true: Tensor | None = None,
                mask: Tensor | None = None) -> tuple[Tensor | None, Tensor]:
        self._check_x(x)
        c_logits, y_logits = self.forward_logits(x, c_true, mask)
        return (None if c_logits is None else torch.sigmoid(c_logits)), y_logits

    def extra_repr(self) -> str:
        return f"kind={self.kind!r}, mode={self.mode!r}"


class ConceptBottleneckModel(ConceptModel):
    """x → concept logits → sigmoid → task head (Koh et al. 2020, "fuzzy" bottleneck):
    the task sees nothing but the k concept probabilities."""

    kind = "cbm"

    def __init__(self, n_features: int, n_concepts: int, n_classes: int, hidden: int = 64):
        super().__init__(n_features, n_concepts, n_classes)
        self.concept_encoder = _mlp([n_features, hidden, hidden, n_concepts])
        self.task_head = _mlp([n_concepts, hidden, n_classes])

    def forward_logits(self, x, c_true=None, mask=None):
        c_logits = self.concept_encoder(x)                      # (n, k)
        c_used = torch.sigmoid(c_logits)
        if mask is not None:
            c_used = torch.where(mask, c_true, c_used)          # intervention
        return c_logits, self.task_head(c_used)


class ConceptEmbeddingModel(ConceptModel):
    """Concept embedding model (Espinosa Zarlenga et al. 2022, Sec. 3).

    For concept i two embeddings c_i⁺, c_i⁻ ∈ R^m come from a shared latent h(x); a
    scoring layer shared by all concepts gives p_i = σ(s([c_i⁺, c_i⁻])); the task head
    sees ĉ_i = p_i c_i⁺ + (1 − p_i) c_i⁻ for every concept, so information beyond the
    concept's truth value can pass. An intervention sets p_i to the true value.
    """

    kind = "cem"

    def __init__(self, n_features: int, n_concepts: int, n_classes: int, hidden: int = 64,
                 emb_size: int = 16):
        super().__init__(n_features, n_concepts, n_classes)
        self.emb_size = emb_size
        self.backbone = _mlp([n_features, hidden, hidden], last_activation=True)
        # one linear map per concept and sign, stacked into a single layer
        self.embeddings = nn.Sequential(nn.Linear(hidden, n_concepts * 2 * emb_size),
                                        nn.LeakyReLU())
        self.scorer = nn.Linear(2 * emb_size, 1)
        self.task_head = _mlp([n_concepts * emb_size, hidden, n_classes])

    def forward_logits(self, x, c_true=None, mask=None):
        n, k, m = len(x), self.n_concepts, self.emb_size
        e = self.embeddings(self.backbone(x)).view(n, k, 2, m)  # (n, k, ±, m)
        c_logits = self.scorer(e.reshape(n, k, 2 * m)).squeeze(-1)  # (n, k)
        p = torch.sigmoid(c_logits)
        if mask is not None:
            p = torch.where(mask, c_true, p)                    # intervention
        p = p.unsqueeze(-1)                                     # (n, k, 1)
        mixed = p * e[:, :, 0] + (1 - p) * e[:, :, 1]           # (n, k, m)
        return c_logits, self.task_head(mixed.reshape(n, k * m))


class BlackBox(ConceptModel):
    """The CEM's layers without concepts: x → h → a (k·m)-wide layer → task head.
    Same capacity as the concept embedding model; ``c_prob`` is ``None``."""

    kind = "blackbox"

    def __init__(self, n_features: int, n_concepts: int, n_classes: int, hidden: int = 64,
                 emb_size: int = 16):
        super().__init__(n_features, n_concepts, n_classes)
        self.backbone = _mlp([n_features, hidden, hidden], last_activation=True)
        self.embeddings = nn.Sequential(nn.Linear(hidden, n_concepts * emb_size), nn.LeakyReLU())
        self.task_head = _mlp([n_concepts * emb_size, hidden, n_classes])

    def forward_logits(self, x, c_true=None, mask=None):
        if mask is not None:
            raise _checks.BadInput("a black box has no concepts to intervene on; "
                                   "train kind='cbm' or kind='cem' for interventions")
        return None, self.task_head(self.embeddings(self.backbone(x)))


def joint_loss(c_logits: Tensor, y_logits: Tensor, c: Tensor, y: Tensor,
               lam: float = 1.0) -> Tensor:
    """Joint CBM loss (Koh et al. 2020, Sec. 3): cross-entropy of the task plus
    ``lam`` times the mean binary cross-entropy of the concepts."""
    if c_logits.shape != c.shape:
        raise _checks.BadInput(f"c_logits {tuple(c_logits.shape)} and c {tuple(c.shape)} must have one "
                               "shape: one logit per concept of every sample")
    if y_logits.dim() != 2 or y.shape != (len(y_logits),):
        raise _checks.BadInput(f"y_logits must be (n, n_classes) and y (n,) class indices, got "
                               f"{tuple(y_logits.shape)} and {tuple(y.shape)}")
    return F.cross_entropy(y_logits, y) + lam * F.binary_cross_entropy_with_logits(c_logits, c)


def check_data(x: Tensor, c: Tensor, y: Tensor | None = None) -> None:
    """Inputs ``x`` (N, D), concepts ``c`` (N, K) in [0, 1] and labels ``y`` (N,) that fit together."""
    for name, t in (("x", x), ("c", c), ("y", y)):
        if t is not None and not isinstance(t, Tensor):
            raise _checks.BadInputType(f"{name} must be a torch.Tensor, got {type(t).__name__}; "
                                       f"use torch.as_tensor({name})")
    if x.dim() != 2 or not x.is_floating_point():
        raise _checks.BadInput(f"x must be a float tensor of shape (n, d), got {x.dtype} "
                               f"{tuple(x.shape)}")
    if len(x) == 0:
        raise _checks.BadInput("x is empty: pass at least one sample")
    if c.dim() != 2 or len(c) != len(x):
        raise _checks.BadInput(f"c must have shape (n, k) with n = {len(x)} like x, got {tuple(c.shape)}")
    if not c.is_floating_point() or not torch.all((c == 0) | (c == 1)):
        raise _checks.BadInput("c must be float with values in {0, 1} (one column per concept); "
                               "threshold or binarise it first, e.g. (c > 0.5).float()")
    if torch.isnan(x).any():
        raise _checks.BadInput("x contains NaN; remove or impute those samples first")
    if y is not None:
        if y.dim() != 1 or len(y) != len(x) or y.dtype != torch.int64:
            raise _checks.BadInput(f"y must be an int64 tensor of shape ({len(x)},), got {y.dtype} "
                                   f"{tuple(y.shape)}; use y.long()")
        if (y < 0).any():
            raise _checks.BadInput("y holds class indices 0..n_classes-1; found a negative label")
    devices = {t.device for t in (x, c, y) if t is not None}
    if len(devices) > 1:
        raise _checks.BadInput(f"x, c and y must be on one device, got {sorted(map(str, devices))}")


#: The training options of :func:`fit` and their defaults (passed to :func:`xaitutor.train`).
TRAINING = {"epochs": 800, "lr": 0.01, "batch_size": None, "patience": 100, "progress": True}


def fit(x: Tensor, c: Tensor, y: Tensor, kind: str = "cbm", mode: str = "joint", seed: int = 0,
        *, lam: float = 1.0, hidden: int = 64, emb_size: int = 16, p_int: float = 0.25,
        **training) -> ConceptModel:
    """Train a concept model on ``(x, c, y)`` and return it in eval mode, on x's device.

    kind: ``"cbm"`` concept bottleneck, ``"cem"`` concept embedding model trained with
    random concept interventions (probability ``p_int``, the paper's RandInt), or
    ``"blackbox"`` (no concepts). mode (cbm only, Koh et al. 2020):
    ``"joint"`` minimises task loss + ``lam`` · concept loss end to end;
    ``"sequential"`` trains the concept encoder, then the task head on its (frozen)
    predicted probabilities; ``"independent"`` trains the task head on the *true*
    concepts and only meets predicted ones at test time. The CEM always trains jointly.

    ``training`` options go to :func:`xaitutor.train` (Adam): ``epochs`` (default 800),
    ``lr`` (0.01), ``batch_size`` (None: full batch), ``patience`` (100), ``progress`` (True).
    """
    if kind not in KINDS:
        raise _checks.BadInput(f"unknown kind {kind!r}; choose one of {KINDS}")
    if mode not in MODES:
        raise _checks.BadInput(f"unknown mode {mode!r}; choose one of {MODES}")
    if kind != "cbm" and mode != "joint":
        raise _checks.BadInput(f"mode={mode!r} applies to kind='cbm' only; {kind} trains jointly "
                               "(leave mode='joint')")
    check_data(x, c, y)
    if lam < 0 or not math.isfinite(lam):
        raise _checks.BadInput(f"lam weighs the concept loss and must be ≥ 0, got {lam}")
    _checks.positive_int(hidden, "hidden")
    _checks.positive_int(emb_size, "emb_size")
    if not 0.0 <= p_int <= 1.0:
        raise _checks.BadInput(f"p_int is a probability in [0, 1], got {p_int}")
    n_classes = max(int(y.max()) + 1, 2)
    torch.manual_seed(_checks.seed(seed))
    Model = {"cbm": ConceptBottleneckModel, "cem": ConceptEmbeddingModel, "blackbox": BlackBox}[kind]
    extra = {} if kind == "cbm" else {"emb_size": emb_size}
    model = Model(x.shape[1], c.shape[1], n_classes, hidden=hidden, **extra).to(x.device)
    model.mode = mode
    unknown = sorted(set(training) - set(TRAINING))
    if unknown:
        raise _checks.BadInput(f"fit got unknown options {unknown}; its training options are "
                               f"{sorted(TRAINING)} (see xaitutor.train)")
    opts = {**TRAINING, **training, "seed": seed}
    model.train()
    if kind == "blackbox":
        train(lambda xb, yb: F.cross_entropy(model.forward_logits(xb)[1], yb), model, (x, y),
              desc="black box", **opts)
    elif kind == "cem":
        gen = torch.Generator(device=x.device).manual_seed(_checks.seed(seed))

        def cem_loss(xb, cb, yb):
            mask = torch.rand(cb.shape, generator=gen, device=cb.device) < p_int
            c_logits, y_logits = model.forward_logits(xb, cb, mask)
            return joint_loss(c_logits, y_logits, cb, yb, lam)
        train(cem_loss, model, (x, c, y), desc="CEM", **opts)
    elif mode == "joint":
        train(lambda xb, cb, yb: joint_loss(*model.forward_logits(xb), cb, yb, lam), model,
              (x, c, y), desc="joint CBM", **opts)
    else:
        enc, head = model.concept_encoder, model.task_head
        train(lambda xb, cb: F.binary_cross_entropy_with_logits(enc(xb), cb), enc, (x, c),
              desc="concept encoder", **opts)
        if mode == "sequential":
            with torch.no_grad():
                c_in = torch.sigmoid(enc(x))                   # frozen predictions
        else:
            c_in = c                                            # independent: true concepts
        train(lambda cb, yb: F.cross_entropy(head(cb), yb), head, (c_in, y),
              desc="task head", **opts)
    return model.eval()


def _concept_mask(idx, n: int, k: int, device) -> Tensor:
    if isinstance(idx, Tensor) and idx.dtype == torch.bool:
        if idx.shape not in ((k,), (n, k)):
            raise _checks.BadInput(f"a boolean idx must have shape ({k},) or ({n}, {k}), "
                                   f"got {tuple(idx.shape)}")
        return idx.to(device).expand(n, k)
    if isinstance(idx, (int, np.integer)):
        idx = [idx]
    idx = [int(i) for i in idx]
    bad = [i for i in idx if not -k <= i < k]
    if bad:
        raise _checks.BadInput(f"concept indices {bad} out of range: the model has {k} concepts "
                               f"(0..{k - 1})")
    mask = torch.zeros(k, dtype=torch.bool, device=device)
    mask[idx] = True
    return mask.expand(n, k)


def intervene(model: ConceptModel, x: Tensor, c_true: Tensor, idx) -> Tensor:
    """Task logits ``(n, n_classes)`` after replacing the concepts in ``idx`` by their
    true values ``c_true`` (Koh et al. 2020, Sec. 6). For a CEM the true value selects
    the positive or negative embedding (p_i := c_i).

    ``idx``: a concept index, a list of them, or a boolean mask ``(k,)`` or ``(n, k)``
    (to correct different concepts for different samples).
    """
    if not isinstance(model, ConceptModel):
        raise _checks.BadInputType("model must come from xaitutor.concepts.fit (a concept model)")
    if model.kind == "blackbox":
        raise _checks.BadInput("a black box has no concepts to intervene on; "
                               "train kind='cbm' or kind='cem' for interventions")
    check_data(x, c_true)
    if c_true.shape[1] != model.n_concepts:
        raise _checks.BadInput(f"c_true must have {model.n_concepts} columns (one per concept), "
                               f"got {c_true.shape[1]}")
    mask = _concept_mask(idx, len(x), model.n_concepts, x.device)
    with torch.no_grad():
        return model(x, c_true.to(x.device), mask)[1]


@torch.no_grad()
def accuracy(model: ConceptModel, x: Tensor, c: Tensor, y: Tensor) -> dict[str, float]:
    """``{"task": ..., "concept": ...}`` accuracies on held-out data (concept accuracy
    is over all n·k concept predictions thresholded at 0.5; NaN for a black box)."""
    check_data(x, c, y)
    c_prob, y_logits = model(x)
    task = (y_logits.argmax(1) == y).float().mean().item()
    concept = float("nan") if c_prob is None else ((c_prob > 0.5) == (c > 0.5)).float().mean().item()
    return {"task": task, "concept": concept}


@torch.no_grad()
def intervention_curve(model: ConceptModel, x: Tensor, c: Tensor, y: Tensor,
                       max_subsets: int = 64, seed: int = 0) -> list[float]:
    """Task accuracy after correcting j = 0..k concepts, averaged over every set of j
    concepts (or ``max_subsets`` random ones when there are more). Returns k+1 values."""
    check_data(x, c, y)
    _checks.positive_int(max_subsets, "max_subsets")
    k = model.n_concepts
    rng = np.random.default_rng(seed)
    curve = []
    for j in range(k + 1):
        n_sets = math.comb(k, j)
        if n_sets <= max_subsets:
            subsets = list(itertools.combinations(range(k), j))
        else:
            subsets = [tuple(rng.choice(k, size=j, replace=False)) for _ in range(max_subsets)]
        accs = [(intervene(model, x, c, list(s)).argmax(1) == y).float().mean().item()
                for s in subsets]
        curve.append(float(np.mean(accs)))
    return curve


@torch.no_grad()
def truth_table(model: ConceptModel) -> tuple[Tensor, Tensor]:
    """The rule a CBM's task head learnt: the head queried on every binary concept vector.

    Returns ``(c_all, y_pred)``: ``c_all`` float ``(2^k, k)``, the vectors of {0, 1}^k in
    binary order ((0,…,0), (0,…,1), …, (1,…,1)), and ``y_pred`` int64 ``(2^k,)``, the class
    the head predicts for each — what the model answers when an expert sets every concept
    (Koh et al. 2020, Sec. 6). A CEM's head reads embeddings of x, not bare concepts, and a
    black box has no concepts: both raise.
    """
    if not isinstance(model, ConceptModel):
        raise _checks.BadInputType("model must come from xaitutor.concepts.fit (a concept model)")
    if model.kind != "cbm":
        raise _checks.BadInput(f"a truth table needs a task head on bare concepts (kind='cbm'); "
                               f"this model is kind={model.kind!r}")
    k = model.n_concepts
    if k > 16:
        raise _checks.BadInput(f"the model has {k} concepts: 2^{k} rows is too many to enumerate")
    device = next(model.parameters()).device
    c_all = torch.tensor(list(itertools.product((0.0, 1.0), repeat=k)), device=device)  # (2^k, k)
    return c_all, model.task_head(c_all).argmax(1)
