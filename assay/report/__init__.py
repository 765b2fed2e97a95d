"""The per-study report: ``results/{study}/`` (tables, figures, ``summary.md``, the index
and the plan marker), made by the rule ``index_study`` from the study's artifacts.
``tables`` holds the tables and their columns, ``jobs`` the rule."""
