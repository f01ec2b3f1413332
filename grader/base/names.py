"""Names and numbers that parts of servicelab on different layers must agree on, each written once here: the
kind cluster and the helper containers `servicelab up` starts beside it (probes, cluster set-up and grading use
them), Traefik as fixtures/traefik/traefik.yaml installs it (set-up, status and the L7 checks), and the loggers
more than one module writes to."""

from __future__ import annotations

KIND_CLUSTER = "servicelab"  # the kind cluster's default name (its context: kind-servicelab)

# Containers on the kind docker network, made by grader.cluster.vantage.
OUTSIDE_CONTAINER = "servicelab-outside"  # a client in the "VNet", outside the cluster: a vantage point
INTERNET_CONTAINER = "servicelab-internet"  # a client on the internet: no route to the `internal` pool
PARTNER_CONTAINER = "servicelab-partner"  # the server the ExternalName lab points at
PARTNER_HOST = "api.partner.example"  # the partner's network alias: docker's DNS, so cluster DNS, resolves it
PARTNER_PORT = 80  # the partner's HTTP server
CLIENT_CONTAINERS = (OUTSIDE_CONTAINER, INTERNET_CONTAINER)  # the vantage points among them
HELPER_CONTAINERS = (*CLIENT_CONTAINERS, PARTNER_CONTAINER)  # in the order `up` makes them

# Traefik, the L7 controller of the Ingress and Gateway API labs (fixtures/traefik/traefik.yaml).
TRAEFIK_NAMESPACE = "traefik"
TRAEFIK_DEPLOYMENT = "traefik"
TRAEFIK_POD_LABELS = {"app": "traefik"}  # what its Deployment's pods carry
TRAEFIK_SERVICE = "traefik"  # the LoadBalancer Service: the labs' one L7 entry point
TRAEFIK_CLASS = "traefik"  # the IngressClass (the default one) and the GatewayClass
# AKS app routing's GatewayClass, which Traefik serves too: a learner's AKS Gateway works unchanged on kind
APP_ROUTING_CLASS = "approuting-istio"
# The platform's own Gateway in TRAEFIK_NAMESPACE (routes from that namespace only): the witness that Traefik's
# Gateway API provider works. Learners write their own Gateway.
TRAEFIK_GATEWAY = "lab-gateway"
# The Service's port `web`, and the entry point `web` behind it (the container port): a Gateway listener's port
# names the entry point, so a listener on port 80 is served, as on AKS, where it is the port clients use
TRAEFIK_LB_PORT = 80
TRAEFIK_TLS_PORT = 443  # entry point websecure: the Service's port and the container's, for HTTPS listeners
TRAEFIK_API_PORT = 8080  # the entry point `traefik` (its API): in no Service
# The Service's fixed node port (kind maps it to the host). Any HTTP answer on it, Traefik's 404 included, means
# the node's kube-proxy forwarded the connection: the witness that a node serves node ports at all.
TRAEFIK_NODE_PORT = 30080

PROGRESS_LOG = "servicelab.progress"  # the logger a notebook shows while check() runs
