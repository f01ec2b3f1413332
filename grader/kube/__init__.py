"""The Kubernetes client: one session to the API server, discovery, exec, typed errors, and the labels we own.

Imports only grader.base. Every API call servicelab makes goes through `grader.kube.client.Kube`."""
