"""``python -m pcp.bench``: see ``pcp.bench.cli``."""

import sys

from pcp.bench.cli import main

sys.exit(main())
