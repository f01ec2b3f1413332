"""`servicelab check-solutions`: every lab's reference, alternative and known-wrong cases, graded in parallel.

Imports reports, grading, parallel and everything below."""
