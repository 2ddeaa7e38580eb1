"""Configuration: connection settings shared by every client, contexts from the config file,
and token providers for OAUTHBEARER / AWS MSK IAM."""
