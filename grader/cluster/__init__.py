"""Bringing the lab cluster up, reporting on it, and taking it down (kind + MetalLB + Traefik)."""
