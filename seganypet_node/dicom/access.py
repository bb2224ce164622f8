"""Which calling AE titles may associate from which addresses (``[access] allowed_callers``).

An AE title is a label any peer can send; the address the association comes from is what the
network vouches for. Each allowed caller may connect from its ``networks`` (addresses, CIDR
networks, host names) or, when none are given, from its ``host`` only. Host names are resolved
when the listener starts.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from seganypet_node.settings_callers import Caller

log = logging.getLogger(__name__)

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class CallerAccess:
    """The networks each allowed calling AE title may connect from (empty mapping: anyone)."""

    networks: Mapping[str, tuple[Network, ...]]

    @classmethod
    def from_callers(cls, callers: Sequence[Caller]) -> CallerAccess:
        return cls({c.ae_title: tuple(net for item in (c.networks or (c.host,))
                                      for net in _resolved(item, c.ae_title))
                    for c in callers})

    def titles_for(self, address: str) -> list[str]:
        """The allowed AE titles a connection from ``address`` may use."""
        ip = _address(address)
        if ip is None:
            return []
        return [title for title, nets in self.networks.items() if any(ip in n for n in nets)]


def _resolved(item: str, title: str) -> list[Network]:
    try:
        return [ipaddress.ip_network(item, strict=False)]
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(item, None, proto=socket.IPPROTO_TCP)
    except OSError as exc:
        log.error("allowed caller %s: host %s does not resolve (%s); it cannot associate",
                  title, item, exc.strerror)
        return []
    return [ipaddress.ip_network(info[4][0]) for info in infos]


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        ip = ipaddress.ip_address(text.split("%")[0])
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip
