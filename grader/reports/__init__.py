"""Renderings of a LabResult: terminal (rich), JSON (versioned schema), JUnit XML, Markdown, HTML."""
