# -*- coding: utf-8 -*-
# Copyright (c) ipsecfleet maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""MTU and MSS of a route-based tunnel: GRE or IPIP, protected by an ESP transport-mode SA.

On the wire a packet routed into the tunnel interface becomes (outermost first):

    outer IP (20 / 40) | [NAT-T UDP 8] | ESP header 8 | IV | GRE 4 (IPIP: nothing) | inner packet
    | padding | ESP trailer 2 | ICV

GRE without key or sequence number (what RouterOS sends) adds 4 bytes (RFC 2784); IPIP adds none,
the inner IP header directly follows (RFC 2003). The ESP payload (GRE + inner packet + trailer) is
padded to the cipher's alignment (RFC 4303 section 2.4); the per-algorithm IV/alignment/ICV table is
the one the policy-based MSS uses (plan/firewall.py ENC_OVERHEAD, AUTH_ICV).

Without ESP the same arithmetic gives RouterOS's own ``actual-mtu`` of an unprotected tunnel on a
1500-byte WAN: GRE 1476, IPIP 1480 (routeros7-behaviour.md section 4). docs/route-based.md works the
numbers out by hand.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.ipsecfleet.routeros.plugins.module_utils.plan.firewall import (
    AUTH_ICV,
    ENC_OVERHEAD,
    ESP_HEADER,
    ESP_TRAILER,
    NATT_UDP,
    OUTER_IP,
)

# encapsulation -> bytes between the outer (transport-mode: ESP) header and the inner IP packet
ENCAPSULATION_HEADER = {"gre": 4, "ipip": 0}
# inner IP + TCP headers without options: MSS = inner packet MTU - these
INNER_IP_TCP = {4: 40, 6: 60}
# RFC 791 / RFC 8200: the smallest MTU every IPv4 / IPv6 link must carry
MINIMUM_MTU = {4: 576, 6: 1280}


class MtuError(ValueError):
    """The encapsulation, the algorithms or the WAN MTU leave no usable tunnel MTU."""


def esp_transport_overhead(enc, auth, nat_traversal=True):
    """(fixed bytes, alignment, ICV bytes, name) of ESP in transport mode for one algorithm pair."""
    if enc not in ENC_OVERHEAD:
        raise MtuError("unknown ESP encryption algorithm %r for the MTU computation" % (enc,))
    iv, align, aead_icv = ENC_OVERHEAD[enc]
    if aead_icv is not None:
        icv, label = aead_icv, enc
    else:
        if auth not in AUTH_ICV:
            raise MtuError("unknown ESP auth algorithm %r for the MTU computation" % (auth,))
        icv, label = AUTH_ICV[auth], "%s/%s" % (enc, auth)
    natt = NATT_UDP if nat_traversal else 0
    return natt + ESP_HEADER + iv, align, icv, label


def tunnel_mtu(wan_mtu, encapsulation, enc=None, auth=None, nat_traversal=True, outer_ip_version=4):
    """The largest inner packet the tunnel interface carries without fragmenting the outer one.

    ``enc``/``auth``: the ESP transport SA's algorithms (``enc=None``: no IPsec, the plain tunnel).
    Returns (mtu, explanation).
    """
    if encapsulation not in ENCAPSULATION_HEADER:
        raise MtuError("encapsulation must be one of %s, got %r"
                       % (", ".join(sorted(ENCAPSULATION_HEADER)), encapsulation))
    if outer_ip_version not in OUTER_IP:
        raise MtuError("outer_ip_version must be 4 or 6, got %r" % (outer_ip_version,))
    wan_mtu = int(wan_mtu)
    outer = OUTER_IP[outer_ip_version]
    header = ENCAPSULATION_HEADER[encapsulation]
    if enc is None:
        mtu = wan_mtu - outer - header
        explanation = "%s: %d WAN MTU - %d outer IP - %d %s header = MTU %d" % (
            encapsulation, wan_mtu, outer, header, encapsulation.upper(), mtu)
    else:
        fixed, align, icv, label = esp_transport_overhead(enc, auth, nat_traversal)
        room = wan_mtu - outer - fixed - icv
        padded = (room // align) * align
        payload = padded - ESP_TRAILER
        mtu = payload - header
        explanation = ("%s over ESP transport %s: %d WAN MTU - %d outer IP - %d NAT-T UDP - %d ESP header "
                       "- %d IV - %d ICV = %d; aligned to %d = %d; - %d ESP trailer = %d; - %d %s header "
                       "= MTU %d" % (encapsulation, label, wan_mtu, outer, NATT_UDP if nat_traversal else 0,
                                     ESP_HEADER, fixed - ESP_HEADER - (NATT_UDP if nat_traversal else 0), icv,
                                     room, align, padded, ESP_TRAILER, payload, header,
                                     encapsulation.upper(), mtu))
    if mtu < MINIMUM_MTU[4]:
        raise MtuError("tunnel MTU %d is below %d (%s): check the WAN MTU" % (mtu, MINIMUM_MTU[4], explanation))
    return mtu, explanation


def mss_for_mtu(mtu, inner_ip_version=4):
    """The TCP MSS of packets that fit ``mtu`` (no IP or TCP options)."""
    return int(mtu) - INNER_IP_TCP[inner_ip_version]


def worst_tunnel_mtu(wan_mtu, encapsulation, enc_algorithms, auth_algorithms, nat_traversal=True,
                     outer_ip_version=4):
    """The smallest MTU over every (enc, auth) pair the proposal may negotiate: (mtu, explanation).

    An empty ``auth_algorithms`` is how an AEAD-only proposal is written (no separate ICV).
    """
    auths = list(auth_algorithms) or ["null"]
    worst = None
    for enc in enc_algorithms:
        for auth in auths:
            candidate = tunnel_mtu(wan_mtu, encapsulation, enc, auth, nat_traversal, outer_ip_version)
            if worst is None or candidate[0] < worst[0]:
                worst = candidate
    if worst is None:
        raise MtuError("the proposal names no encryption algorithm")
    return worst
