"""A local stand-in for Amazon's Selling Partner API, for tests, benchmarks and the demo.

    from spapi_standin import StandIn, StandInConfig

    with StandIn(StandInConfig(seed=7)) as server:
        server.base_url       # http://127.0.0.1:PORT, SP-API operations
        server.lwa_token_url  # Login with Amazon token endpoint
        server.dataset        # the generated records (plain dicts) to assert on

Responses are generated from the models' 200-response schemas and shaped exactly like
Amazon's; auth (LWA, grantless, RDT, optional SigV4), usage plans and faults behave as
described in the project's SP-API reference.
"""

from spapi_standin.config import StandInConfig
from spapi_standin.data import Dataset
from spapi_standin.server import StandIn

__all__ = ["Dataset", "StandIn", "StandInConfig"]
