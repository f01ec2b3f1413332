"""Grading as a service for a classroom on one shared cluster (docs/CLASSROOM_SERVICE.md).

auth (who calls: TokenReview of a student's ServiceAccount token, or the instructor), gradebook (SQLite, or
PostgreSQL that replicas share: database), fairqueue (one grading per student at a time, students served in turn
by N workers), app (the HTTP API and the instructor's class page), live (the real grading: the grader in worker
processes, in place, with the service's own probe rights). Only the standard library beyond what grader/ already
needs, and psycopg (the `postgres` extra) for a PostgreSQL gradebook.
"""
