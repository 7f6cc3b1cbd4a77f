"""Local HTTP emulators of the vendor APIs (Gorgias, Recharge 2021-11, Shopify Admin REST, EasyPost),
serving the simulation's canonical tables with each vendor's paging, limits and misbehaviours.

See server.Sandbox; vendor behaviour follows the vendors' documented APIs (docs/sources.md).
"""

from sandbox.emulators.server import Sandbox, serve

__all__ = ["Sandbox", "serve"]
