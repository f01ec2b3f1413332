"""One grading, start to end: judge and apply a submission, open the vantage points, run the checks through
pytest, turn results into scores and exit codes, and clean up what was made.

Imports parallel, lab, catalogue, intake, probes, cluster, kube and base."""
