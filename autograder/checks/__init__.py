"""Hidden checks, one module per assignment. Messages say what is wrong, never the expected value."""
