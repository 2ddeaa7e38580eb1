"""The refresh work that runs in a child process, away from the UI's interpreter: the cluster
monitor, the traffic watcher, the consumer-group reader, and the one request/response loop
they share (`child.py`)."""
