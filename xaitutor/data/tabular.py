"""German credit (Statlog), bundled with its licence note, and an encoder that turns its
rows into model-ready tensors and back into readable rows."""
from __future__ import annotations

import csv
import html
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import resources

import torch
from torch import Tensor
from .. import _checks

__all__ = ["german_credit", "TabularEncoder", "GERMAN_NUMERIC", "GERMAN_CATEGORICAL"]

GERMAN_NUMERIC = ("age", "job", "credit_amount", "duration")
GERMAN_CATEGORICAL = ("sex", "housing", "saving_accounts", "checking_account", "purpose")


@dataclass
class TabularEncoder:
    """Numeric columns → standardised (x − mean) / std; categorical columns → one-hot
    (0/1, one column per category). ``feature_names`` names the encoded columns
    (``"age"``, ``"sex=male"``, ...); ``decode`` turns encoded rows back into readable
    dictionaries (numbers unscaled and rounded, categories by their largest entry)."""

    numeric: tuple[str, ...]
    categorical: dict[str, tuple[str, ...]]
    mean: dict[str, float]
    std: dict[str, float]
    feature_names: list[str] = field(init=False)

    def __post_init__(self):
        self.feature_names = list(self.numeric) + [f"{c}={v}" for c, values in self.categorical.items()
                                                   for v in values]
        self._columns, start = {c: [j] for j, c in enumerate(self.numeric)}, len(self.numeric)
        for c, values in self.categorical.items():
            self._columns[c] = list(range(start, start + len(values)))
            start += len(values)

    @classmethod
    def fit(cls, rows: list[dict], numeric, categorical) -> TabularEncoder:
        if not rows:
            raise _checks.BadInput("need at least one row to fit the encoder")
        mean, std = {}, {}
        for c in numeric:
            col = torch.tensor([float(r[c]) for r in rows], dtype=torch.float64)
            mean[c], std[c] = col.mean().item(), (col.std().item() or 1.0)
        cats = {c: tuple(sorted({str(r[c]) for r in rows})) for c in categorical}
        return cls(tuple(numeric), cats, mean, std)

    @property
    def n_features(self) -> int:
        return len(self.feature_names)

    def columns_of(self, name: str) -> list[int]:
        """Encoded column indices of a raw column (one for numeric, several for categorical)."""
        if name in self._columns:
            return list(self._columns[name])
        raise _checks.BadInput(f"unknown column {name!r}; the columns are "
                               f"{list(self.numeric) + list(self.categorical)}")

    @property
    def categorical_groups(self) -> list[list[int]]:
        """Encoded index groups of the one-hot columns, one group per categorical column."""
        return [self.columns_of(c) for c in self.categorical]

    def encode(self, rows: list[dict]) -> Tensor:
        """Readable rows (dicts) → float32 ``(N, D)``."""
        out = torch.zeros(len(rows), self.n_features)
        for i, r in enumerate(rows):
            missing = [c for c in [*self.numeric, *self.categorical] if c not in r]
            if missing:
                raise _checks.BadInput(f"row {i} is missing the columns {missing}; give every row a "
                                       f"value for each of {[*self.numeric, *self.categorical]}")
            for j, c in enumerate(self.numeric):
                out[i, j] = (float(r[c]) - self.mean[c]) / self.std[c]
            for c, values in self.categorical.items():
                v = str(r[c])
                if v not in values:
                    raise _checks.BadInput(f"{c}={v!r} is not a known category; known: {values}")
                out[i, self.columns_of(c)[values.index(v)]] = 1.0
        return out

    def decode(self, x: Tensor) -> list[dict]:
        """Encoded ``(N, D)`` (or one ``(D,)``) → readable rows."""
        x = x.detach().cpu().double()
        if x.dim() == 1:
            x = x[None]
        if x.shape[-1] != self.n_features:
            raise _checks.BadInput(f"this encoder makes {self.n_features} columns, got {x.shape[-1]}: "
                                   "was x encoded by another encoder?")
        rows = []
        for xi in x:
            row = {}
            for j, c in enumerate(self.numeric):
                value = xi[j].item() * self.std[c] + self.mean[c]
                row[c] = round(value)
            for c, values in self.categorical.items():
                row[c] = values[int(xi[self.columns_of(c)].argmax())]
            rows.append(row)
        return rows

    def bounds(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Per-column (lo, hi) that real rows respect: the range of ``x`` for numeric
        columns, [0, 1] for one-hot columns."""
        lo, hi = x.min(0).values.clone(), x.max(0).values.clone()
        k = len(self.numeric)
        lo[k:], hi[k:] = 0.0, 1.0
        return lo, hi

    def compare(self, before: Tensor, after: Tensor) -> str:
        """A readable before → after table of one row (changed columns marked ←)."""
        b, a = self.decode(before)[0], self.decode(after)[0]
        width = max(len(c) for c in b)
        lines = [f"{'feature':{width}s}  {'before':>22s}  {'after':>22s}"]
        for c in b:
            mark = "  ← changed" if b[c] != a[c] else ""
            lines.append(f"{c:{width}s}  {str(b[c]):>22s}  {str(a[c]):>22s}{mark}")
        return "\n".join(lines)

    def compare_html(self, before: Tensor, after: Tensor, locked: Sequence[str] = ()) -> str:
        """:meth:`compare` as an HTML table for a widget: changed values bold and orange,
        the features in ``locked`` marked 🔒."""
        b, a = self.decode(before)[0], self.decode(after)[0]
        rows = ""
        for c in b:
            lock = " 🔒" if c in locked else ""
            style = ' style="font-weight:bold;color:#D55E00"' if b[c] != a[c] else ""
            rows += (f"<tr><td>{html.escape(c)}{lock}</td><td>{html.escape(str(b[c]))}</td>"
                     f"<td{style}>{html.escape(str(a[c]))}</td></tr>")
        return ('<table style="font-size:1.05em"><tr><th>feature</th><th>now</th>'
                f"<th>counterfactual</th></tr>{rows}</table>")


def german_credit() -> tuple[Tensor, Tensor, list[str], TabularEncoder]:
    """The German credit data (1,000 applicants; UCI Statlog, DbCL v1.0 licence, note in
    ``xaitutor/data/files/german_credit/README.md``). Returns ``x`` float32 ``(1000, D)``
    (numeric columns standardised, categorical one-hot), ``y`` int64 (1 = good credit),
    the encoded feature names and the fitted :class:`TabularEncoder`."""
    path = resources.files("xaitutor.data") / "files" / "german_credit" / "german.csv"
    with path.open(newline="") as f:
        rows = list(csv.DictReader(f))
    encoder = TabularEncoder.fit(rows, GERMAN_NUMERIC, GERMAN_CATEGORICAL)
    y = torch.tensor([int(r["risk"]) for r in rows], dtype=torch.int64)
    return encoder.encode(rows), y, encoder.feature_names, encoder
