"""The refresh work that runs in the engine child process, away from the UI's interpreter: the
cluster monitor, the consumer-group reader (without librdkafka), the engine that runs them with
the traffic watcher (`process.py`), and the request/response loop of a child (`child.py`)."""
