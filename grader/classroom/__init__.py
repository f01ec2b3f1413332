"""A class's hand-ins: find and read submissions, grade them as a batch, records and gradebooks, nbgrader.

Imports corpus, reports, grading and everything below."""
