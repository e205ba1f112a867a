"""``python -m bench.lifecycle``: the command line is in :mod:`bench.lifecycle.run`."""

from bench.lifecycle.run import main

raise SystemExit(main())
