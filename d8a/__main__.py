"""``python -m d8a`` runs the command line."""

import sys

from d8a.cli import main

sys.exit(main())
