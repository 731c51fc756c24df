"""``python -m verbatim.cli``: the same command as ``verbatim``."""

import sys

from verbatim.cli import main

sys.exit(main())
