"""ExternalName lab: partner-api is a CNAME to api.partner.example, with no ClusterIP, and leads there over HTTP."""

from __future__ import annotations

import ipaddress

import pytest

from grader.lab import EnvError, LabContext

PARTNER = "api.partner.example"


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


@pytest.mark.check(points=2, title="cluster DNS answers partner-api with a CNAME; no ClusterIP")
def test_alias_is_cname(lab: LabContext) -> None:
    svc = lab.service("partner-api")
    lab.expect(
        svc.type == "ExternalName" and svc.cluster_ip is None,
        f"partner-api is type {svc.type}"
        + (f" with ClusterIP {svc.cluster_ip}" if svc.cluster_ip else "")
        + ": that proxies through the cluster. An alias is type: ExternalName with externalName: "
        f"{PARTNER}; it has no ClusterIP.",
        diagnosis="externalname/not-an-alias",
    )
    target = (svc.external_name or "").rstrip(".")
    is_ip = _is_ip(target)
    why = (
        f" externalName is the IP address {target}: ExternalName makes a DNS CNAME, so it takes a DNS name "
        f"({PARTNER}), and cluster DNS publishes no CNAME for an IP."
        if is_ip
        else ""
    )
    # an IP as externalName never gets a CNAME: one or two tries confirm it, a longer wait changes nothing
    lab.probe.dns(svc.dns, "CNAME", deadline_s=4 if is_ip else None).must_resolve(
        f"Cluster DNS returns no CNAME for {svc.dns}.{why}",
        diagnosis="externalname/ip-address-not-a-name" if is_ip else "externalname/no-cname",
    )


@pytest.mark.check(points=3, title="HTTP through partner-api reaches the partner's server")
def test_alias_reaches_partner(lab: LabContext) -> None:
    svc = lab.service("partner-api")
    direct = lab.probe.http_get(f"http://{PARTNER}/hostname")
    if not direct.ok or not direct.body.strip():
        raise EnvError(
            f"the partner server {PARTNER} does not answer from the probe pod ({direct.observed}): "
            "run 'servicelab up' to restore it"
        )
    if svc.type != "ExternalName" or not lab.probe.dns(svc.dns, "CNAME", deadline_s=5).ok:
        # no alias at all: alias_is_cname charges that; here we judge where the alias leads
        lab.blocked("alias_is_cname", "partner-api is no DNS alias, so where it leads cannot be observed")
    target = (svc.external_name or "").rstrip(".")
    why = f"its CNAME points to {target!r}, and the partner's server is {PARTNER}"
    lab.probe.http_get(f"http://{svc.dns}/hostname", deadline_s=10).must_contain(
        direct.body.strip(),
        f"http://{svc.dns}/ does not reach the partner's server: {why}.",
        diagnosis="externalname/alias-leads-elsewhere",
    )
