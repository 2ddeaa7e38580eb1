"""nexus-tui: the Textual dashboard and the headless CLI, both on the shared `core`."""
