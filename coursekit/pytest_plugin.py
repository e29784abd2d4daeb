"""Loaded by pytest with ``-p coursekit.pytest_plugin`` (see pyproject.toml).

Plugins named with ``-p`` load before the installed ones, so this runs before
nbval imports nbformat.
"""

from coursekit.startup import skip_unused_slow_imports

skip_unused_slow_imports()
