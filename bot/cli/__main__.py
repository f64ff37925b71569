"""``python -m bot.cli``: the ``meshdiff`` command."""
import sys

from bot.cli import main

sys.exit(main())
