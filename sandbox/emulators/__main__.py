"""python -m sandbox.emulators FOLDER [--faults light] ...: serve the emulators (see server.main)."""

from sandbox.emulators.server import main

main()
