import pytest
import torch

from reprobook.train import maybe_compile
from reprobook.train.compile import CompiledOrEager


def test_cpu_modules_are_left_eager():
    m = torch.nn.Linear(3, 2)
    assert maybe_compile(m) is m and maybe_compile(m, enabled=False) is m


def test_a_failing_compiler_falls_back_to_eager_with_a_warning():
    def broken_backend(gm, example_inputs):
        raise RuntimeError("no compiler here")

    m = torch.nn.Linear(3, 2)
    wrapped = CompiledOrEager(m, backend=broken_backend)
    x = torch.randn(4, 3)
    with pytest.warns(UserWarning, match="running eagerly"):
        out = wrapped(x)
    torch.testing.assert_close(out, m(x))
    torch.testing.assert_close(wrapped(x), m(x))            # stays eager, no second warning
    assert list(wrapped.parameters())[0] is m.weight
    assert set(wrapped.state_dict()) == {"module.weight", "module.bias"}
