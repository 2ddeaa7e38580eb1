"""`nexus-tui demo`: a real local Kafka cluster with live Nexus traffic, the dashboard on top.

`services` holds the demo's Nexus services and traffic generator (built only on `core`);
`runner` starts the cluster and topics, runs the services and the TUI, and stops it all.
"""

from nexus_tui.demo.runner import DemoError, DemoOptions, DemoRunner, demo_state_dir, run_demo

__all__ = ["DemoError", "DemoOptions", "DemoRunner", "demo_state_dir", "run_demo"]
