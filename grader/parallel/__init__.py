"""Many gradings at once: worker processes, chains of work that must not overlap, and Leases on claims.

Claims name what a grading holds cluster-wide; Leases make two processes wait for each other. Imports catalogue, intake,
cluster, kube and base."""
