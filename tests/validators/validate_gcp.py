"""Validate ctxfw's GCP firewall list (the `gcp` target).

1. google.cloud.compute_v1.Firewall.from_json(..., ignore_unknown_fields=False) on each rule:
   every field exists in the Compute API with the right type.
2. Our own value checks: RFC 1035 names and tags (at most 63 characters), unique names,
   direction and priority, protocols, port strings, ranges, one network.

Usage: python validate_gcp.py FIREWALLS.json   (exit 0 valid, 1 findings)
"""
import ipaddress
import json
import re
import sys

from google.cloud import compute_v1

NAME = re.compile(r"^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$")
PROTOCOLS = {"tcp", "udp", "icmp", "esp", "ah", "sctp", "ipip", "all"}
PORT = re.compile(r"^([0-9]{1,5})(-([0-9]{1,5}))?$")


def main(path):
    errors = []
    with open(path, encoding="utf-8") as f:
        rules = json.load(f)
    if not isinstance(rules, list) or not rules:
        errors.append("not a non-empty list")
        rules = []
    names = set()
    networks = set()
    for r in rules:
        n = r.get("name", "")
        try:
            fw = compute_v1.Firewall.from_json(json.dumps(r), ignore_unknown_fields=False)
        except Exception as e:  # noqa: BLE001 - report any parse failure
            errors.append(f"{n}: Firewall.from_json: {e}")
            continue
        if fw.name != n:
            errors.append(f"{n}: name did not survive the round trip")
        if not NAME.match(n):
            errors.append(f"{n}: not an RFC 1035 name")
        if n in names:
            errors.append(f"{n}: duplicate name")
        names.add(n)
        networks.add(r.get("network"))
        if r.get("kind") != "compute#firewall":
            errors.append(f"{n}: kind")
        if r.get("direction") not in ("INGRESS", "EGRESS"):
            errors.append(f"{n}: direction {r.get('direction')!r}")
        if not (isinstance(r.get("priority"), int) and 0 <= r["priority"] <= 65535):
            errors.append(f"{n}: priority {r.get('priority')!r}")
        for t in r.get("targetTags", []) + r.get("sourceTags", []):
            if not NAME.match(t):
                errors.append(f"{n}: tag {t!r}")
        if not r.get("targetTags"):
            errors.append(f"{n}: no targetTags")
        if r["direction"] == "INGRESS" and not (r.get("sourceRanges") or r.get("sourceTags")):
            errors.append(f"{n}: ingress without sources")
        if r["direction"] == "EGRESS" and not r.get("destinationRanges"):
            errors.append(f"{n}: egress without destinationRanges")
        if r["direction"] == "EGRESS" and r.get("sourceTags"):
            errors.append(f"{n}: egress rules cannot have sourceTags")
        for key in ("sourceRanges", "destinationRanges"):
            fams = set()
            for c in r.get(key, []):
                try:
                    fams.add(ipaddress.ip_network(c, strict=True).version)
                except ValueError as e:
                    errors.append(f"{n}: {key} {c!r}: {e}")
            if len(fams) > 1:
                errors.append(f"{n}: {key} mixes IPv4 and IPv6")
        actions = r.get("allowed", []) + r.get("denied", [])
        if len(actions) == 0 or (r.get("allowed") and r.get("denied")):
            errors.append(f"{n}: needs exactly one of allowed / denied")
        for a in actions:
            p = a.get("IPProtocol", "")
            if p not in PROTOCOLS and not (p.isdigit() and 0 <= int(p) <= 255):
                errors.append(f"{n}: IPProtocol {p!r}")
            for port in a.get("ports", []):
                m = PORT.match(port) if isinstance(port, str) else None
                lo = int(m.group(1)) if m else -1
                hi = int(m.group(3)) if m and m.group(3) else lo
                if not m or not (0 <= lo <= hi <= 65535):
                    errors.append(f"{n}: port {port!r}")
                if p not in ("tcp", "udp", "sctp"):
                    errors.append(f"{n}: ports on protocol {p}")
        if len(r.get("description", "")) > 2048:
            errors.append(f"{n}: description over 2048 characters")
    if len(networks) > 1:
        errors.append(f"rules for more than one network: {networks}")
    for e in errors:
        print(e)
    print(f"{path}: {len(rules)} firewall rules, {len(errors)} problems")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
