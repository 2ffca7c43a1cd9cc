"""Model answers to the notebooks' exercises, one module per notebook (``nb01.py`` …).

Read one with ``xaitutor.exercises.solution("01", "joint_loss")``: it prints the source
and returns the function without touching your own attempt. Each answer is checked
when its notebook runs (nbval) and by ``tests/test_exercises.py``.
"""
