"""nbgrader settings for the servicelab course (run nbgrader from the course folder that holds this file)."""

import os

from grader.classroom.nbplugin import AUTOGRADE_PREPROCESSORS

c = get_config()  # type: ignore[name-defined]  # noqa: F821 - provided by nbgrader when it loads this file

c.CourseDirectory.course_id = "servicelab"
# Absolute, wherever this folder is copied to (nbgrader warns about a relative root and resolves it per command).
c.CourseDirectory.root = os.path.dirname(os.path.abspath(__file__))
c.CourseDirectory.source_directory = "source"
c.CourseDirectory.release_directory = "release"

# The stub is a comment in YAML and in Python: the manifest cell is YAML under `%%servicelab_answer <lab>`, a
# knowledge question's answer cell is Python (`answer_1 = "b"`). Either way the released notebook runs top to
# bottom: the check cell reports what is missing, a question's cell that it has no answer yet.
c.ClearSolutions.code_stub = {"python": "# your answer here"}
c.ClearSolutions.text_stub = "YOUR ANSWER HERE"

# Autograde never runs a submission: servicelab reads the answer cell as YAML and grades it out of process in a
# fresh namespace, instead of nbgrader's Execute (classroom.nbplugin; `servicelab course autograde` also sets this).
c.Autograde.autograde_preprocessors = list(AUTOGRADE_PREPROCESSORS)

# Learners' check cells (and `nbgrader validate`) wait for endpoints and load balancers: far above the 30 s default
c.Execute.timeout = 600
c.Execute.interrupt_on_timeout = True
