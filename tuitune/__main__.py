"""``python -m tuitune``: the same front door as the ``tuitune`` command."""

from tuitune.cli import main

raise SystemExit(main())
