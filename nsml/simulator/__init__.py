"""A local CLOVA NSML auth-keys API behind a stand-in NCP API Gateway (see ../shared/nsml-api.md).

Pure: imports nothing from Django, so tests run it in-process and `manage.py nsml_simulator` serves it
for development. `faults` holds the gateway's error table and the failures to inject, `service` the
simulated NSML (authentication, routing, the keys it holds), `server` the HTTP server around them.
"""

from nsml.simulator.faults import FAULT_BODIES, Faults
from nsml.simulator.server import NsmlSimulator
from nsml.simulator.service import KeyRejected

__all__ = ["FAULT_BODIES", "Faults", "KeyRejected", "NsmlSimulator"]
