"""The Nexus publisher/subscriber port: acked publishes, at-least-once consumption with retries
and a dead-letter topic, request/reply, client metrics."""
