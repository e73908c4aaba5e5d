"""``python -m stable_rescue``: the same command line as ``stable-rescue``."""

import sys

from stable_rescue.cli import main

sys.exit(main())
