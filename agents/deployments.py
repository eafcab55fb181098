"""Which models serve a tenant: its control-set deployment, else the static file, else the default."""

from __future__ import annotations

import orjson

from learning.deployment import Deployment, DeploymentError, default_deployment


class UnknownTenant(LookupError):
    """A tenant without a deployment, when settings say such events are dead-lettered."""


class DeploymentResolver:
    def __init__(self, rt) -> None:
        s = rt.settings
        self._table = rt.tables.deployments if rt.tables else None
        self._static: dict[str, Deployment] = {}
        if s.deployments_file:
            with open(s.deployments_file, "rb") as f:
                for tenant, d in orjson.loads(f.read()).items():
                    self._static[tenant] = Deployment.from_dict(d)
        self._default = (Deployment.from_dict(orjson.loads(s.default_deployment))
                         if s.default_deployment else default_deployment(s.task, s.deadline_ms))
        self._allow_default = s.unknown_tenants == "default"
        self._parsed: dict[tuple[str, int], Deployment] = {}

    def resolve(self, tenant: str) -> Deployment:
        stored = self._table.get(tenant) if self._table is not None else None
        if stored is not None:
            return self.parse(tenant, stored)
        if tenant in self._static:
            return self._static[tenant]
        if self._allow_default:
            return self._default
        raise UnknownTenant(f"tenant {tenant!r} has no deployment and "
                            "RENDEZVOUS_UNKNOWN_TENANTS=dead-letter")

    def parse(self, tenant: str, d: dict) -> Deployment:
        """Parse once per (tenant, version): records carry the deployment on every request."""
        key = (tenant, d.get("version", 0))
        found = self._parsed.get(key)
        if found is None:
            if len(self._parsed) > 100_000:
                self._parsed.clear()
            found = self._parsed[key] = Deployment.from_dict(d)
        return found


__all__ = ["DeploymentResolver", "UnknownTenant", "DeploymentError"]
