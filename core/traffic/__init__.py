"""Nexus traffic: a watcher that tails the Nexus topics and the windows that turn what it reads
into error rates, unanswered requests, reply latency and dead-letter inflow."""
