"""Run tap-spapi's shards on an orchestrator: Dagster definitions around `meltano run`.

Optional: install with the `orchestrate` dependency group (`make .venv/.installed`
does); the tap itself never imports this package.
"""
