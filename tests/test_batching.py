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
