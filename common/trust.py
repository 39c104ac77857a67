"""Who counts as a caller on this machine: the one rule the REST webhook, /metrics and the ops routes
use when no token is configured."""

from __future__ import annotations

import ipaddress

# The REST channel's bearer token (bot/channels/rest.py checks it; the voice service and deploy/cluster.py
# send or share it).
REST_TOKEN_ENV = "SHOPCUE_REST_TOKEN"


def local_client(client_ip: str, forwarded_for: str = "") -> bool:
    """Whether the connection is from loopback and, behind a proxy on this machine (nginx in
    deploy/cluster.py, where every connection is from loopback), the client it forwarded for is too
    (Sanic's `remote_addr`, from X-Real-IP when SANIC_REAL_IP_HEADER is set; empty otherwise)."""
    addresses = [client_ip, forwarded_for] if forwarded_for else [client_ip]
    try:
        return all(ipaddress.ip_address(address).is_loopback for address in addresses)
    except ValueError:
        return False
