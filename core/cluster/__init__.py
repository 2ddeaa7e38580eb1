"""Reads and writes of a whole cluster: the admin client, snapshots, seek (offset reset),
the message browser and test dispatches."""
