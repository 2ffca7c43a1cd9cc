import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch

from xaitutor import plotting


def test_principal_plane_is_orthonormal_and_spans_the_spread():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(500, 4, generator=g) * torch.tensor([5.0, 0.1, 2.0, 0.1])
    mean, basis = plotting.principal_plane(x)
    torch.testing.assert_close(basis @ basis.T, torch.eye(2), atol=1e-5, rtol=0)
    # the two leading directions are the axes with the largest spread: 0, then 2
    assert basis[0].abs().argmax() == 0 and basis[1].abs().argmax() == 2
    assert (basis.gather(1, basis.abs().argmax(1, keepdim=True)) > 0).all()


@pytest.mark.parametrize("d", [2, 5])
def test_decision_regions_draw_for_any_width(d):
    x = torch.randn(50, d)
    y = (x[:, 0] > 0).long()
    fig, ax = plt.subplots()
    plotting.plot_decision_regions(ax, lambda p: (p[:, 0] > 0).long(), x, y, title="t")
    assert ax.get_title() == "t" and len(ax.collections) >= 2
    png = plotting.figure_to_png(fig)
    assert png[:4] == b"\x89PNG"


def test_decision_regions_reject_one_feature():
    fig, ax = plt.subplots()
    with pytest.raises(ValueError, match="d ≥ 2"):
        plotting.plot_decision_regions(ax, lambda p: p[:, 0].long(), torch.zeros(5, 1), torch.zeros(5).long())
    plt.close(fig)


def test_grouped_bars_and_curves_label_everything():
    fig, (a, b) = plt.subplots(1, 2)
    plotting.plot_grouped_bars(a, {"xor": {"cbm": 0.9, "cem": 0.95}, "dot": {"cbm": 0.7, "cem": 0.96}})
    assert [t.get_text() for t in a.get_xticklabels()] == ["xor", "dot"]
    assert len(a.patches) == 4
    plotting.plot_curves(b, {"cbm": [0.7, 0.8, 1.0]}, "corrected", "accuracy")
    assert b.get_legend() is not None
    plt.close(fig)


def test_figure_to_png_reuses_the_layout_of_the_same_grid():
    """With a layout cache the second render skips constrained layout (the slow half of a
    render) and puts the axes exactly where the first render's engine put them."""
    from matplotlib.figure import Figure

    def make(title):
        fig = Figure(figsize=(6, 3), layout="constrained")
        axes = fig.subplots(1, 2)
        for ax in axes:
            ax.plot([0, 1], [0, 1])
            ax.set_title(title)
        return fig

    fresh = make("a")
    plotting.figure_to_png(fresh)
    reference = [ax.get_position().bounds for ax in fresh.get_axes()]
    layout = {}
    png1 = plotting.figure_to_png(make("a"), layout)
    second = make("b")
    png2 = plotting.figure_to_png(second, layout)
    assert png1[:4] == png2[:4] == b"\x89PNG" and png1 != png2
    from matplotlib.layout_engine import ConstrainedLayoutEngine
    assert not isinstance(second.get_layout_engine(), ConstrainedLayoutEngine)
    np.testing.assert_allclose([ax.get_position().bounds for ax in second.get_axes()], reference)
    other = Figure(layout="constrained")
    other.subplots(2, 1)
    plotting.figure_to_png(other, layout)                 # another grid: laid out afresh
    assert len(layout) == 2


def test_segment_edges_run_between_pixels_of_different_segments():
    mask = torch.tensor([[0, 0, 1], [0, 0, 1], [2, 2, 2]])
    lines = plotting.segment_edges(mask)
    vertical = {((1.5, -0.5), (1.5, 0.5)), ((1.5, 0.5), (1.5, 1.5))}          # 0 | 1 in rows 0, 1
    horizontal = {((c - 0.5, 1.5), (c + 0.5, 1.5)) for c in range(3)}         # rows 1 / 2
    assert set(lines) == vertical | horizontal and len(lines) == 5
    fig, ax = plotting.plt.subplots()
    plotting.plot_segments(ax, torch.rand(1, 3, 3), mask[None], title="t")
    assert ax.get_title() == "t" and len(ax.collections) == 1
    plotting.plt.close(fig)


def test_plot_attribution_keeps_the_diverging_scale_when_asked():
    fig, (a, b) = plotting.plt.subplots(1, 2)
    positive = torch.rand(1, 4, 4)
    plotting.plot_attribution(a, torch.rand(1, 4, 4), positive)
    plotting.plot_attribution(b, torch.rand(1, 4, 4), positive, signed=True)
    assert a.images[1].get_cmap().name == "viridis" and b.images[1].get_cmap().name == "RdBu_r"
    assert b.images[1].get_clim() == (-float(positive.max()), float(positive.max()))
    plotting.plt.close(fig)


def test_maps_compared_by_magnitude_can_share_one_colour_scale():
    """Two maps of the same units drawn on one scale: the weaker one's colours stay weak
    (without ``scale`` each map fills its own colour range)."""
    strong, weak = torch.zeros(1, 4, 4), torch.zeros(1, 4, 4)
    strong[0, 0, 0], strong[0, 1, 1], weak[0, 2, 2] = 2.0, -0.5, 0.25
    assert plotting.shared_scale(strong, weak) == 2.0
    assert plotting.shared_scale(torch.zeros(2, 3, 4, 4)) == 1.0                   # all 0: a harmless limit
    assert plotting.shared_scale(torch.ones(3, 2, 2)) == 3.0                        # summed over channels, as drawn
    fig, (a, b, c) = plotting.plt.subplots(1, 3)
    lim = plotting.shared_scale(strong, weak)
    plotting.plot_attribution(a, torch.rand(1, 4, 4), strong, scale=lim)
    plotting.plot_attribution(b, torch.rand(1, 4, 4), weak, scale=lim, signed=True)
    plotting.plot_attribution(c, torch.rand(1, 4, 4), weak, signed=True)
    assert a.images[1].get_clim() == b.images[1].get_clim() == (-2.0, 2.0)
    assert c.images[1].get_clim() == (-0.25, 0.25)                                  # its own range
    plotting.plt.close(fig)


def test_bad_colour_scales_are_refused_with_the_fix():
    fig, ax = plotting.plt.subplots()
    for bad in (0.0, -1.0, float("nan")):
        with pytest.raises(ValueError, match="scale"):
            plotting.plot_attribution(ax, torch.rand(1, 4, 4), torch.rand(1, 4, 4), scale=bad)
    with pytest.raises(ValueError, match="at least one map"):
        plotting.shared_scale()
    with pytest.raises(TypeError, match="tensors"):
        plotting.shared_scale([1.0, 2.0])
    plotting.plt.close(fig)


def test_plot_montage_puts_each_image_under_its_title_in_one_axes():
    import numpy as np
    from matplotlib.figure import Figure

    from xaitutor.plotting import plot_montage
    rows = [[np.full((4, 4), 0.1), np.full((4, 4), 0.2)], [np.full((4, 4), 0.9)]]
    ax = Figure().add_subplot()
    plot_montage(ax, rows, [["a", "b"], ["c"]], [["red", "blue"], ["green"]], vmin=0, vmax=1)
    [image] = ax.get_images()
    sheet = image.get_array()
    texts = {t.get_text(): t for t in ax.texts}
    assert set(texts) == {"a", "b", "c"} and texts["b"].get_color() == "blue"
    for name, value in (("a", 0.1), ("b", 0.2), ("c", 0.9)):
        x, y = texts[name].get_position()                 # the title sits just above its image
        below = sheet[int(np.ceil(y)) + 1, int(x)]
        assert below == value, (name, below)
    assert np.ma.count_masked(sheet) > 0                  # the gaps are masked (drawn white)
    assert len(ax.figure.axes) == 1


def test_plot_montage_refuses_mismatched_titles_and_sizes():
    import numpy as np
    import pytest
    from matplotlib.figure import Figure

    from xaitutor.plotting import plot_montage
    ax = Figure().add_subplot()
    with pytest.raises(ValueError, match="one title per image"):
        plot_montage(ax, [[np.zeros((4, 4))]], [["a", "b"]])
    with pytest.raises(ValueError, match="one size"):
        plot_montage(ax, [[np.zeros((4, 4)), np.zeros((5, 4))]], [["a", "b"]])


def test_image_shape_is_the_square_the_pixels_fill_or_the_one_given():
    """Issue 26: the widgets draw flat rows without assuming 8 × 8 digits."""
    from xaitutor import BadInput
    from xaitutor.plotting import image_shape
    assert image_shape(64) == (8, 8) and image_shape(784) == (28, 28)
    assert image_shape(12, (3, 4)) == (3, 4)
    with pytest.raises(BadInput, match="image_shape=.*H · W = 12"):
        image_shape(12)
    with pytest.raises(BadInput, match=r"image_shape=\(3, 5\) does not hold 12"):
        image_shape(12, (3, 5))
