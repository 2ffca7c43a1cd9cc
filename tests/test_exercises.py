import torch

from xaitutor.exercises import check_choice, check_function, check_value

CASES = [(torch.tensor([1.0, 2.0]),), (torch.tensor([-3.0]),)]


def reference(t):
    return t ** 2


def test_right_function_gets_a_tick(capsys):
    assert check_function("square", lambda t: t * t, reference, CASES)
    assert capsys.readouterr().out.startswith("✓ square: matches the reference on 2 cases")


def test_unwritten_none_raising_and_wrong_functions_are_explained(capsys):
    def stub(t):
        raise NotImplementedError
    assert not check_function("square", stub, reference, CASES)
    assert "not written yet" in capsys.readouterr().out
    assert not check_function("square", lambda t: None, reference, CASES)
    assert "forget `return`" in capsys.readouterr().out
    assert not check_function("square", lambda t: t.foo, reference, CASES)
    assert "raised AttributeError" in capsys.readouterr().out
    assert not check_function("square", lambda t: t * 2, reference, CASES)
    assert "case 0 is off by up to 1 " in capsys.readouterr().out
    assert not check_function("square", lambda t: t.sum(), reference, CASES)
    assert "shape" in capsys.readouterr().out


def test_check_value_and_choice(capsys):
    assert check_value("pi", 3.1416, 3.14159, atol=1e-3)
    assert not check_value("pi", 3.0, 3.14159, atol=1e-3, hint="more digits")
    assert "more digits" in capsys.readouterr().out
    assert not check_value("pi", ..., 3.14159)
    assert check_choice("q", " Yes", "yes", "because")
    assert not check_choice("q", "no", "yes", "because")
    assert not check_choice("q", ..., "yes", "because")
    assert "no answer yet" in capsys.readouterr().out
