"""What every stream shares: the base stream, reading ahead, containment of
failures, query windows, embedded lists, PII."""
