"""``python -m jobdeck.cli``: the same as the ``jobdeck`` command."""

import sys

from . import main

sys.exit(main())
