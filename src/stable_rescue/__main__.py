"""``python -m stable_rescue``: the same command line as ``stable-rescue``."""

from stable_rescue.cli import main

raise SystemExit(main())
