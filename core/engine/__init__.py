"""The refresh work that runs in the engine child process, away from the UI's interpreter: the
cluster monitor, the consumer-group reader (without librdkafka), the engine that runs them with
the traffic watcher (`process.py`), and the request/response loop of a child (`child.py`)."""

#: the engine child's module (`python -m`), named here so that a caller can start the child
#: ahead (child.start_early) without importing the engine
ENGINE_MODULE = "core.engine.process"
