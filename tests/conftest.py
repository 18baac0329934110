import os
import sys

# The repository root holds the `sandbox` package; make it importable however pytest is invoked.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

pytest_plugins = ["sandbox.pytest_plugin"]
