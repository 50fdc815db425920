"""``python -m bayescale ...`` is the ``bayescale`` command (e.g. ``python -m bayescale sbc``)."""

import sys

from bayescale.cli import main

if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
