"""The lab catalogue: where labs are, each lab folder read and validated (lab.yaml, cases, declared checks).

Imports intake (to read manifests as data), cluster facts (the placeholders a lab may use), kube and base."""
