"""Exported-query vs teacher-database evaluation and the hosted index (issue 6); not written yet."""
