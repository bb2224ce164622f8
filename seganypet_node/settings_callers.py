"""Parsers of the settings that name peers: the callers allowed to associate (and where their
results go back) and the fixed result destinations."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from typing import Any

from seganypet_node.settings_values import HOST_NAME, RemoteAE, ae_title, host, integer


@dataclass(frozen=True)
class Caller:
    """A remote application entity allowed to associate, and where its results go back.

    Parameters
    ----------
    ae_title : str
        Calling AE title of the peer.
    host : str
        Host name or IP address of the peer's Storage SCP.
    port : int
        Port of the peer's Storage SCP.
    networks : tuple of str
        Where the peer may call from: IP addresses, networks (CIDR) or host names. Empty:
        from ``host`` only.
    return_ae_title : str | None
        Called AE title of the Storage SCP at ``host:port`` that gets the results back, where
        it is not the caller's own (a console that pushes, a PACS node that stores); None:
        ``ae_title``.
    """

    ae_title: str
    host: str
    port: int
    networks: tuple[str, ...] = ()
    return_ae_title: str | None = None

    @property
    def storage_scp(self) -> RemoteAE:
        """Where this caller's results go back."""
        return RemoteAE(self.return_ae_title or self.ae_title, self.host, self.port)


_CALLER_FORM = (
    'a list of {ae_title = "AE", host = "host", port = N} tables, each optionally with '
    'networks = ["10.0.0.0/24", "host"] and return_ae_title = "AE" (environment: '
    '"AE@host:port,AE2@host:port")'
)
_CALLER_KEYS = {"ae_title", "host", "port", "networks", "return_ae_title"}


def callers(raw: Any) -> tuple[Caller, ...]:
    """Parse the allow-list of calling AEs from TOML tables or ``AE@host:port,...``."""
    if isinstance(raw, str):
        raw = [_caller_from_text(item) for item in raw.split(",") if item.strip()]
    if not isinstance(raw, list):
        raise ValueError(_CALLER_FORM)
    parsed = []
    for entry in raw:
        if not isinstance(entry, dict) or not (
                {"ae_title", "host", "port"} <= set(entry) <= _CALLER_KEYS):
            unknown = sorted(set(entry) - _CALLER_KEYS) if isinstance(entry, dict) else []
            raise ValueError(_CALLER_FORM + (f"; unknown key {unknown[0]!r}" if unknown else ""))
        if isinstance(entry["port"], str):
            raise ValueError(f"port: expected an integer from 1 to 65535, got the string "
                             f"{entry['port']!r} (write it without quotes)")
        back = entry.get("return_ae_title")
        parsed.append(
            Caller(ae_title(entry["ae_title"]), host(entry["host"]),
                   integer(1, 65535)(entry["port"]), _networks(entry.get("networks", [])),
                   None if back is None else ae_title(back))
        )
    titles = [c.ae_title for c in parsed]
    if len(set(titles)) != len(titles):
        raise ValueError(_CALLER_FORM + " with each AE title once")
    return tuple(parsed)


def destinations(raw: Any) -> tuple[RemoteAE, ...]:
    """Parse fixed result destinations (the callers' form, without ``networks``)."""
    parsed = callers(raw)
    if any(c.networks or c.return_ae_title for c in parsed):
        raise ValueError("a destination is called, it does not call: no networks or "
                         "return_ae_title here (its ae_title is the one called)")
    return tuple(c.storage_scp for c in parsed)


def _networks(raw: Any) -> tuple[str, ...]:
    """Addresses, CIDR networks or host names a caller may connect from."""
    if not isinstance(raw, list) or not all(isinstance(item, str) for item in raw):
        raise ValueError(_CALLER_FORM)
    for item in raw:
        try:
            ipaddress.ip_network(item, strict=False)
        except ValueError:
            if not HOST_NAME.match(item):
                raise ValueError(f"{item!r} is not an address, network or host name; "
                                 + _CALLER_FORM) from None
    return tuple(raw)


def _caller_from_text(item: str) -> dict[str, Any]:
    match = re.fullmatch(r"\s*([^@]+)@([^:]+):(\d+)\s*", item)
    if not match:
        raise ValueError(_CALLER_FORM)
    return {"ae_title": match[1], "host": match[2], "port": int(match[3])}
