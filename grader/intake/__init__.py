"""Reading what someone hands in as data, and judging it before the cluster hears of it.

Safe YAML, the field schema, manifests, a lab's policy, pod policy, notebook answers. Imports kube and base only."""
