"""nbgrader configuration of the effnn course.

The course root is this folder; instructor notebooks live in ../solutions (nbgrader "source") and the
generated student notebooks in ../assignments (nbgrader "release"). The gradebook, submitted/,
autograded/ and feedback/ stay here and are git-ignored. The grading command
(`python -m autograder.grade`) builds an isolated course root per submission from these settings.
"""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
if REPO not in sys.path:  # so that the autograder's preprocessors can be named below
    sys.path.insert(0, REPO)

c = get_config()  # noqa: F821  (provided by nbgrader)

c.CourseDirectory.course_id = "effnn"
c.CourseDirectory.root = HERE
c.CourseDirectory.source_directory = os.path.join(REPO, "solutions")
c.CourseDirectory.release_directory = os.path.join(REPO, "assignments")
c.CourseDirectory.ignore = [".ipynb_checkpoints", "*.pyc", "__pycache__", "feedback", ".*"]

# Generous per-cell limit: A1 fine-tunes a Segformer in fast mode. The grading command adds a
# per-submission wall-clock limit on top of this.
c.Execute.timeout = 300
c.Execute.interrupt_on_timeout = True  # nbgrader's Execute always runs past errors
# After a cell's reply nbclient waits this long for its output messages, then records a
# CellTimeoutError in the cell. The default (4 s) zeroed honest cells on a loaded 2-core grader.
c.Execute.iopub_timeout = 30

# Restore graded cells a student deleted, and overwrite edited test cells from the source.
c.OverwriteCells.add_missing_cells = True

# Autograde: the student's kernel runs sealed, and the hidden checks run in a judge outside it; cell
# scores come from the judge's record (see autograder/execute.py). nbgrader's own `autograde` and
# Formgrader's button go through the same step, or refuse where no sandbox can be built.
c.Autograde.autograde_preprocessors = [
    "autograder.execute.JudgedExecute",
    "nbgrader.preprocessors.IgnorePattern",
    "nbconvert.preprocessors.ClearMetadataPreprocessor",
    "nbgrader.preprocessors.LimitOutput",
    "nbgrader.preprocessors.SaveAutoGrades",
    "nbgrader.preprocessors.AssignLatePenalties",
    "nbgrader.preprocessors.CheckCellMetadata",
]

# Feedback shows neither hidden tests nor the tracebacks that would point into autograder/, and only
# the verdicts of graded cells (other outputs could echo what the judge sent).
c.GenerateFeedback.preprocessors = [
    "nbgrader.preprocessors.GetGrades",
    "nbgrader.preprocessors.ClearHiddenTests",
    "autograder.feedback.ShortenTracebacks",
    "autograder.feedback.OnlyVerdicts",
    "nbconvert.preprocessors.CSSHTMLHeaderPreprocessor",
]

c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
c.ClearSolutions.text_stub = "YOUR ANSWER HERE"
