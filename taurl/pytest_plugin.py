"""The pytest plugin's former path (``-p taurl.pytest_plugin``): the same module as :mod:`taurl.checks.pytest_plugin`."""

import sys

from taurl.checks import pytest_plugin

sys.modules[__name__] = pytest_plugin
