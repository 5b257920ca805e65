"""Self-checks for each notebook's exercises, one module per notebook (``exNN_topic``).

Each module defines ``check_1``, ``check_2``, ... taking the learner's function, raising
:class:`cachelab.selfcheck.CheckFailed` with a plain-words reason when it is wrong, and a
``check(n, answer)`` shortcut for the notebook. Worked answers live in ``solutions/``.
"""
