"""Instructor-only tooling: hidden checks, grading command, nbgrader preprocessors.

Nothing here ships to students (see `make student-bundle`). Hidden checks live in
``autograder.checks.<assignment>``; the hidden block of a test cell only calls into them.
"""
import sys as _sys

# jsonschema (under nbformat) imports ``rfc3987_syntax``, when installed, for its "iri" format check,
# and that module compiles a grammar at import: 1.5 s in every grading process (one nbrun per
# submission). No notebook schema uses that format, so the grader goes without it.
_sys.modules.setdefault("rfc3987_syntax", None)
