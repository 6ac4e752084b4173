"""``python -m pcp.forward``: run pcp-forward."""

import sys

from pcp.forward import main

sys.exit(main())
