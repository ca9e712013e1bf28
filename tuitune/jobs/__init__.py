"""Jobs: the run-directory protocol and the detached worker processes that follow it."""
