# Sphinx configuration for the stepvmm documentation site.
#
# The normal way to build the site is `make docs` (the CMake target `docs`),
# which runs Doxygen first and passes the location of its XML output with
#     -D breathe_projects.stepvmm=<build dir>/docs/doxygen/xml
# When sphinx-build is run by hand without that option, Breathe looks in the
# XML written by the `dev` preset's build, ../build/dev/docs/doxygen/xml.

from pathlib import Path

_DOCS_DIR = Path(__file__).resolve().parent

# -- Project -----------------------------------------------------------------

project = "stepvmm"
author = "The stepvmm authors"
copyright = "the stepvmm authors"

# -- General -----------------------------------------------------------------

extensions = [
    "breathe",
    "sphinx.ext.graphviz",
    "sphinx.ext.todo",
]

exclude_patterns = ["_build", "Thumbs.db", ".DS_Store"]

# Code on these pages is C++ unless a block says otherwise. Shell commands,
# console sessions and program output need an explicit language
# (``.. code-block:: console`` / ``text``), or Sphinx warns that it cannot
# lex them as C++, and the build (-W) fails.
primary_domain = "cpp"
highlight_language = "cpp"

# Broken references to the C++ standard library and similar are not our
# concern; Sphinx's own warnings (-W) still fail the build.
nitpicky = False

# ``.. todo::`` notes are allowed in the sources but not shown on the site.
todo_include_todos = False

# Diagrams (``.. graphviz::`` / ``.. digraph::``) become SVG, which stays
# sharp at any zoom and keeps its text searchable.
graphviz_output_format = "svg"

# -- Breathe (Doxygen XML -> Sphinx) -----------------------------------------

breathe_projects = {
    "stepvmm": str(_DOCS_DIR.parent / "build" / "dev" / "docs" / "doxygen" / "xml"),
}
breathe_default_project = "stepvmm"
breathe_domain_by_extension = {"h": "cpp", "hpp": "cpp"}

# -- HTML --------------------------------------------------------------------

html_theme = "sphinx_rtd_theme"
html_title = "stepvmm"
html_theme_options = {
    "navigation_depth": 3,
}
html_show_sourcelink = False
