"""What both HTTP services share: problem+json errors, the request log, health, metrics."""
