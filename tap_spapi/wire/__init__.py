"""One request to Amazon: an account's session, auth (LWA, grantless, RDT, SigV4),
pacing to the usage plans, transport, retries, redaction, Amazon's error bodies."""
