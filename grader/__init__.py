"""servicelab: hands-on labs and a behaviour-probing grader for Kubernetes Services."""
