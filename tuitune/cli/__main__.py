"""``python -m tuitune.cli``: the ``tuitune`` command, run through the imported package so the UserError that
area code raises is the class ``main`` catches."""

from tuitune.cli import main

raise SystemExit(main())
