from nexus_tui.cli import main

main()
