"""What a lab's checks.py uses: the `lab` context, Services, probes, diagnoses, routes, outcomes.

`grader.lab` is the one module a lab imports. Imports cluster, probes, kube and base."""
