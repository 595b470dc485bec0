"""Run the ``kmop`` command line as ``python -m web``."""

import sys

from web.cli import main

sys.exit(main())
