import pytest
import torch

from xaitutor._batching import batched


@pytest.mark.parametrize("batch_size", [None, 1, 3, 7, 100])
def test_batched_equals_one_call(batch_size):
    x, y = torch.randn(7, 3), torch.randn(7)
    calls = []

    def fn(xb, yb):
        calls.append(len(xb))
        return xb.sum(1) * yb, xb * 2

    a, b = batched(fn, x, y, batch_size=batch_size)
    torch.testing.assert_close(a, x.sum(1) * y)
    torch.testing.assert_close(b, x * 2)
    assert max(calls) <= (batch_size or 7) and sum(calls) == 7


def test_batched_refuses_mismatched_lengths():
    with pytest.raises(ValueError, match="share their first dimension"):
        batched(lambda a, b: a, torch.zeros(3), torch.zeros(4), batch_size=2)


def test_batched_shows_a_progress_bar_only_for_many_slices(monkeypatch):
    import tqdm.auto
    bars = []

    class Bar(list):
        def __init__(self, iterable, **kwargs):
            super().__init__(iterable)
            bars.append(kwargs)

    monkeypatch.setattr(tqdm.auto, "tqdm", Bar)
    x = torch.arange(40.0)
    torch.testing.assert_close(batched(lambda xb: xb * 2, x, batch_size=2, progress="work"), x * 2)
    assert bars == [{"desc": "work", "leave": False}]                  # 20 slices: a bar
    batched(lambda xb: xb, x, batch_size=4, progress="work")            # 10 slices: none
    batched(lambda xb: xb, x, batch_size=2)                             # no description: none
    assert len(bars) == 1
