"""What "a frozen model, left as found" means, shared by test_real_models.py and
test_influence_frozen.py (not a test file itself)."""
from __future__ import annotations

import copy


def freeze(model, keep=()):
    """A copy with every parameter frozen except those whose name starts with ``keep``."""
    model = copy.deepcopy(model)
    for name, p in model.named_parameters():
        p.requires_grad_(name.startswith(tuple(keep)) if keep else False)
    return model


def state(model):
    """Flags, grads and weights of ``model``, copied, to compare after a call."""
    return {"requires_grad": {n: p.requires_grad for n, p in model.named_parameters()},
            "training": {n: m.training for n, m in model.named_modules()},
            "grad": {n: None if p.grad is None else p.grad.clone()
                     for n, p in model.named_parameters()},
            "weights": {k: v.clone() for k, v in model.state_dict().items()}}
