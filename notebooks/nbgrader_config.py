"""nbgrader settings for the servicelab course (run nbgrader from this folder)."""

c = get_config()  # type: ignore[name-defined]  # noqa: F821 - provided by nbgrader when it loads this file

c.CourseDirectory.course_id = "servicelab"
c.CourseDirectory.root = "."
c.CourseDirectory.source_directory = "source"
c.CourseDirectory.release_directory = "release"

# The learner's answer is YAML inside a Python string: the stub must be a YAML comment, not Python code that
# raises, so the released notebook runs top to bottom and the check cell reports what is missing.
c.ClearSolutions.code_stub = {"python": "# your manifest here (YAML)"}
c.ClearSolutions.text_stub = "YOUR ANSWER HERE"

# check cells wait for endpoints and load balancers and probe from several places: far above the 30 s default
c.Execute.timeout = 600
c.Execute.interrupt_on_timeout = True
