"""``python -m featviz`` runs the command line."""

import sys

from featviz.cli import main

sys.exit(main())
