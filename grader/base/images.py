"""The container images the labs use.

Learners' machines pull these names from their registries. Machines without a registry get
images built from source under the same names (`nox -s offline-images`): the offline busybox is
Debian's busybox-static of the version the tag names (1.37.0; Debian's own build options, so
the same applets the labs rely on: sh, wget with -T, nslookup, nc, httpd with CGI), and the offline
agnhost is built from the k8s.io/kubernetes module (agnhost `serve-hostname`).

No lab pod or helper container runs agnhost `netexec`: its /shell, /exit, /shutdown and /upload would
let any pod run commands in the pods of another tenant (tests/unit/test_lab_servers.py).
"""

BUSYBOX = "docker.io/library/busybox:1.37.0"
AGNHOST = "registry.k8s.io/e2e-test-images/agnhost:2.53"

LAB_IMAGES = (BUSYBOX, AGNHOST)
