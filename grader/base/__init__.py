"""The ground floor: errors and exit codes, check outcomes, running programs, waiting, signals, shared names.

Nothing here talks to the cluster; every other package may import it, and it imports no other package of grader."""
