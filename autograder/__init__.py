"""Instructor-only tooling: hidden checks, grading command, nbgrader preprocessors.

Nothing here ships to students (see `make student-bundle`). Hidden checks live in
``autograder.checks.<assignment>``; the hidden block of a test cell only calls into them.
"""
