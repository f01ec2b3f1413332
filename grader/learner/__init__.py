"""What a learner uses: the notebook API (`check`, `apply`), its display, progress and hints, the learner copies of the
notebooks, and the live flow diagram. Imports reports, grading and everything below."""
