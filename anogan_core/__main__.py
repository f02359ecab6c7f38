"""``python -m anogan_core``: see :mod:`anogan_core.cli`."""

import sys

from .cli import main

sys.exit(main())
