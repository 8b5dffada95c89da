"""`python -m tap_spapi` runs the tap like the `tap-spapi` command."""

from tap_spapi.tap import main

main()
