"""The operator console (``/console``): its routes, sessions, figures, view, templates and static
files."""
