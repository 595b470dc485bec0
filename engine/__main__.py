"""Run the ``kmop`` command line as ``python -m engine``."""

import sys

from engine.cli import main

sys.exit(main())
