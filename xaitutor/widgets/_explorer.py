"""What every explorer shares: a status line, an image drawn from a Matplotlib figure
(its layout computed once), messages, index controls, and the wiring that turns a bad
value into a message instead of a traceback."""
from __future__ import annotations

import html
import time

import ipywidgets as widgets
from matplotlib.figure import Figure

from ..plotting import figure_to_png

__all__ = ["Explorer", "message", "time_update"]


def message(text: str, kind: str = "warning") -> str:
    """HTML for a warning (orange, ⚠) or an information line (blue)."""
    colour = {"warning": "#D55E00", "info": "#0072B2"}[kind]
    return f'<div style="color:{colour};font-size:1.1em">{"⚠ " if kind == "warning" else ""}' \
           f'{html.escape(text)}</div>'


class Explorer:
    """The parts of one explorer. Build the controls, write ``show()`` (it reads the
    controls and calls ``draw``/``say``; a ``ValueError`` it raises is shown as a
    message and the widget keeps working), then ``return ex.box(rows, controls, show)``.

    ``out`` names the output widget: ``"image"`` (a status line above a PNG) or
    ``"view"`` (one HTML block, for tables)."""

    def __init__(self, out: str = "image"):
        if out not in ("image", "view"):
            raise ValueError(f"out must be 'image' or 'view', got {out!r}")
        self.out = out
        self.status = widgets.HTML()
        self.image = widgets.Image(format="png") if out == "image" else None
        self._layout: dict = {}                 # axes positions, computed on the first draw
        self._shown: dict = {}                  # key → (picture, status line), see `remembered`

    def draw(self, fig: Figure, dpi: float | None = None) -> None:
        """Render ``fig`` into the image (reusing the first render's layout); ``dpi``
        fixes the resolution (for a figure drawn over cached pixels)."""
        self.image.value = figure_to_png(fig, self._layout, dpi=dpi)

    def remembered(self, key, render) -> None:
        """Show what ``render()`` (which calls ``draw`` and ``say``) showed the last time the
        controls stood at ``key``; call it only for a key not seen before. The same
        settings draw the same picture, so going back to one answers at once. Keeps the
        last 256 pictures."""
        if key in self._shown:
            shown = self._shown.pop(key)        # re-inserted: the most recent stays
        else:
            render()
            shown = (self.image.value if self.image is not None else None, self.status.value)
            if len(self._shown) >= 256:
                self._shown.pop(next(iter(self._shown)))
        self._shown[key] = shown
        if self.image is not None:
            self.image.value = shown[0]
        self.status.value = shown[1]

    def say(self, text: str) -> None:
        """Set the status line (or the view) to ``text`` (HTML)."""
        self.status.value = text

    def warn(self, text: str) -> None:
        self.status.value = message(text)

    @staticmethod
    def index(what: str, n: int) -> widgets.IntText:
        """An integer box for choosing one of ``n`` items (its range in the label)."""
        return widgets.IntText(value=0, description=f"{what} (0..{n - 1})",
                               style={"description_width": "initial"}, layout={"width": "190px"})

    def index_ok(self, what: str, i: int, n: int) -> bool:
        """True when ``0 <= i < n``; otherwise shows a message saying the range."""
        if 0 <= i < n:
            return True
        self.warn(f"{what} {i} does not exist: choose an index in 0..{n - 1}")
        return False

    def guarded(self, show):
        """``show`` that turns a ``ValueError`` (a bad combination of values) into a message."""
        def run(change=None):
            try:
                show()
            except ValueError as e:
                self.warn(str(e))
        return run

    def box(self, rows: list, controls: dict, show, observe: bool = True,
            place_outputs: bool = True) -> widgets.VBox:
        """Wire every control to ``show`` (unless ``observe=False``: the caller wires
        them), draw once, and return the box carrying ``.controls``, ``.status`` and
        ``.image`` (or ``.view``) for tests and curious learners. The outputs go below
        ``rows`` unless ``place_outputs=False`` (the rows already hold them)."""
        run = self.guarded(show)
        if observe:
            for w in controls.values():
                w.observe(run, names="value")
        run()
        outputs = [self.status, self.image] if self.out == "image" else [self.status]
        box = widgets.VBox(rows + outputs if place_outputs else rows)
        box.controls = controls
        box.run = run
        if self.out == "image":
            box.status, box.image = self.status, self.image
        else:
            box.view = self.status
        return box

    @staticmethod
    def follow(box: widgets.VBox, index: widgets.Widget, controls: list, values) -> None:
        """Wire ``box`` (made with ``observe=False``) so that choosing another item in
        ``index`` first sets every one of ``controls`` to ``values(i)`` — the starting
        values for item i, or None to leave them — without a redraw per control, then
        draws once; moving one of the controls redraws."""
        quiet = False

        def control_moved(change=None):
            if not quiet:
                box.run()

        def new_item(change=None):
            nonlocal quiet
            start = values(index.value)
            if start is not None:
                quiet = True
                try:
                    for control, value in zip(controls, start):
                        control.value = value
                finally:
                    quiet = False
            box.run()

        index.observe(new_item, names="value")
        for control in controls:
            control.observe(control_moved, names="value")


def time_update(control: widgets.Widget, value, repeats: int = 5) -> float:
    """Median seconds a widget takes to answer ``control.value = value`` (and back)."""
    times, old = [], control.value
    if value == old:
        raise ValueError(f"value must differ from the control's current value {old!r} "
                         "(an unchanged value triggers no update)")
    for r in range(repeats):
        start = time.perf_counter()
        control.value = value if r % 2 == 0 else old
        times.append(time.perf_counter() - start)
    control.value = old
    return sorted(times)[len(times) // 2]
