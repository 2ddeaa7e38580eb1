"""The error types the core raises. Every message is one readable line for a user."""

from __future__ import annotations


class NexusError(Exception):
    """Base of every error the core raises on purpose (the CLI and TUI show its message)."""


class LocalClusterError(NexusError):
    """The local Kafka cluster could not be fetched, started, found or stopped."""


class ConfigError(NexusError):
    """Bad settings or command-line input."""


class ReadOnlyError(NexusError):
    """A write (publish, dispatch, seek) was asked for on a read-only connection."""
