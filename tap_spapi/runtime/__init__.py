"""One run of the process: the run object, failures, progress and output, the worker
pools, the notifications' inbox, and the state (every bookmark key the tap writes)."""
