"""A class's hand-ins: find and read submissions, grade them as a batch, records and gradebooks, nbgrader; and the
classroom grading service on a shared cluster (service/).

Imports corpus, reports, grading and everything below."""
