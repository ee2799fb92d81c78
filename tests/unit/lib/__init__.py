"""Tests of the library, one file per library module.

``tests/unit/lib/test_<name>.py`` (or ``test_<name>_<topic>.py`` when one module's tests are
long) tests ``_modules/_cloudassist_<name>.py``; ``tests/unit/test_<entry>.py`` tests an entry
file (``test_module*`` the execution module, ``test_states``, ``test_grain``, ``test_beacon``,
``test_runner``); the rest of ``tests/unit/test_*.py`` are project-wide checks (import graph,
signatures, try-it).  ``helpers.py`` holds what more than one test file builds its cases from.
``tests/unit/test_test_layout.py`` holds the tree to this rule.
"""
