"""The Nexus wire contract: envelopes byte-compatible with Nexus Go, topic names, the partitioner.

Imports nothing from the rest of `core` but `core.errors`."""
