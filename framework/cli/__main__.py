"""``python -m framework.cli``: the ``sesplan`` command."""

import sys

from framework.cli.parser import main

sys.exit(main())
