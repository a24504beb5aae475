"""Validate a ctxfw ARM template (the `azure` target).

1. azure-mgmt-network's models (the msrest-style models of azure-mgmt-network < 29; later
   releases have no deserialize/serialize): each NSG deserialized as NetworkSecurityGroup and
   each rule as SecurityRule, then serialized back with the SDK's client-side validation; the
   round trip must give back every rule unchanged, and keys the model does not know are errors
   (deserialize would drop them silently).
2. Our own value checks, which the models do not make: priorities 100-4096 and unique per
   direction, protocol / direction / access enums, names (80 characters, Azure's charset),
   description length, port ranges, address prefixes, at most 1000 rules per NSG.

Usage: python validate_azure.py TEMPLATE.json   (exit 0 valid, 1 findings)
"""
import ipaddress
import json
import re
import sys

from azure.mgmt.network import models
from azure.mgmt.network._serialization import Serializer
from azure.mgmt.network.models import NetworkSecurityGroup, SecurityRule

SERIALIZER = Serializer({k: v for k, v in vars(models).items() if isinstance(v, type)})
SERIALIZER.client_side_validation = True


def round_trip(obj, model_name, where, errors):
    """Serialize a deserialized model with the SDK's validation; the result as a dict."""
    try:
        return SERIALIZER.body(obj, model_name)
    except Exception as e:  # noqa: BLE001 - the SDK raises several types
        errors.append(f"{where}: {model_name} does not validate: {e}")
        return None

NAME = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9_.\-]{0,78}[A-Za-z0-9_])?$")
PROTOCOLS = {"Tcp", "Udp", "Icmp", "Esp", "Ah", "*"}
PORT = re.compile(r"^([0-9]{1,5})(-([0-9]{1,5}))?$")
TAGS = {"AzureLoadBalancer", "VirtualNetwork", "Internet", "*"}


def model_keys(model):
    """Top-level and `properties.` keys a model accepts."""
    top, props = set(), set()
    for attr in model._attribute_map.values():
        k = attr["key"]
        if k.startswith("properties."):
            props.add(k.split(".", 1)[1])
        else:
            top.add(k)
    return top, props


def check_ports(n, value, errors):
    if value == "*":
        return
    m = PORT.match(value)
    lo = int(m.group(1)) if m else -1
    hi = int(m.group(3)) if m and m.group(3) else lo
    if not m or not (1 <= lo <= hi <= 65535):
        errors.append(f"{n}: port range {value!r}")


def check_prefix(n, value, errors):
    if value in TAGS:
        return
    try:
        ipaddress.ip_network(value, strict=True)
    except ValueError as e:
        errors.append(f"{n}: address prefix {value!r}: {e}")


def main(path):
    errors = []
    with open(path, encoding="utf-8") as f:
        tpl = json.load(f)
    for key in ("$schema", "contentVersion", "resources"):
        if key not in tpl:
            errors.append(f"template has no {key}")
    nsg_top, nsg_props = model_keys(NetworkSecurityGroup)
    rule_top, rule_props = model_keys(SecurityRule)
    nrules = 0
    for res in tpl.get("resources", []):
        if res.get("type") != "Microsoft.Network/networkSecurityGroups":
            errors.append(f"unexpected resource type {res.get('type')}")
            continue
        name = res["name"]
        if not NAME.match(name):
            errors.append(f"NSG name {name!r}")
        for k in res:
            if k not in nsg_top | {"type", "apiVersion", "properties"}:
                errors.append(f"{name}: key {k!r} unknown to NetworkSecurityGroup")
        for k in res["properties"]:
            if k not in nsg_props:
                errors.append(f"{name}: properties.{k} unknown to NetworkSecurityGroup")
        nsg = NetworkSecurityGroup.deserialize(res)
        back = round_trip(nsg, "NetworkSecurityGroup", name, errors)
        if back is not None and back["properties"]["securityRules"] != res["properties"]["securityRules"]:
            errors.append(f"{name}: security rules changed in the SDK round trip")
        rules = res["properties"]["securityRules"]
        if len(rules) != len(nsg.security_rules or []):
            errors.append(f"{name}: rules lost in deserialization")
        if len(rules) > 1000:
            errors.append(f"{name}: {len(rules)} rules, over 1000")
        seen_names, seen_prio = set(), set()
        for r in rules:
            nrules += 1
            n = f"{name}/{r.get('name')}"
            for k in r:
                if k not in rule_top | {"properties"}:
                    errors.append(f"{n}: key {k!r} unknown to SecurityRule")
            p = r.get("properties", {})
            for k in p:
                if k not in rule_props:
                    errors.append(f"{n}: properties.{k} unknown to SecurityRule")
            sr = SecurityRule.deserialize(r)
            if round_trip(sr, "SecurityRule", n, errors) != r:
                errors.append(f"{n}: rule changed in the SDK round trip")
            if sr.priority != p.get("priority") or sr.protocol != p.get("protocol"):
                errors.append(f"{n}: values lost in deserialization")
            if not NAME.match(r.get("name", "")):
                errors.append(f"{n}: invalid rule name")
            if r.get("name") in seen_names:
                errors.append(f"{n}: duplicate rule name")
            seen_names.add(r.get("name"))
            prio, direction = p.get("priority"), p.get("direction")
            if not (isinstance(prio, int) and 100 <= prio <= 4096):
                errors.append(f"{n}: priority {prio!r} outside 100-4096")
            if (direction, prio) in seen_prio:
                errors.append(f"{n}: priority {prio} used twice for {direction}")
            seen_prio.add((direction, prio))
            if direction not in ("Inbound", "Outbound"):
                errors.append(f"{n}: direction {direction!r}")
            if p.get("access") not in ("Allow", "Deny"):
                errors.append(f"{n}: access {p.get('access')!r}")
            if p.get("protocol") not in PROTOCOLS:
                errors.append(f"{n}: protocol {p.get('protocol')!r}")
            if len(p.get("description", "")) > 140:
                errors.append(f"{n}: description over 140 characters")
            for key in ("sourcePortRange", "destinationPortRange"):
                if key in p:
                    check_ports(n, p[key], errors)
            for v in p.get("sourcePortRanges", []) + p.get("destinationPortRanges", []):
                check_ports(n, v, errors)
            if p.get("protocol") not in ("Tcp", "Udp") and p.get("destinationPortRanges"):
                errors.append(f"{n}: port list on protocol {p.get('protocol')}")
            for side in ("source", "destination"):
                single = p.get(f"{side}AddressPrefix")
                many = p.get(f"{side}AddressPrefixes")
                if (single is None) == (not many):
                    errors.append(f"{n}: needs exactly one of {side}AddressPrefix(es)")
                fams = set()
                for v in ([single] if single else []) + (many or []):
                    check_prefix(n, v, errors)
                    if v not in TAGS:
                        fams.add(ipaddress.ip_network(v, strict=False).version)
                if len(fams) > 1:
                    errors.append(f"{n}: {side} prefixes mix IPv4 and IPv6")
    for e in errors:
        print(e)
    print(f"{path}: {nrules} security rules, {len(errors)} problems")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
