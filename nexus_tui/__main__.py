from nexus_tui.entry import main

main()
