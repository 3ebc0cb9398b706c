"""The chaos suite (issue 17): the whole platform on the sandbox, with the crowd and the
features in use, under a script of faults; then invariants checked against what the sandbox
itself recorded. `python -m tests.chaos [--short] [--duration S]`, `make chaos`; the short
run is also `tests/e2e/test_chaos_run.py`. What is checked and what is not: docs/reliability.md.
"""

from __future__ import annotations
