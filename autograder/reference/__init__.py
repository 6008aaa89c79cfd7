"""Reference answers to the assignments (instructors only: the grading jail cannot import this package)."""
