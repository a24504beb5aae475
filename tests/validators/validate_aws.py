"""Validate a ctxfw CloudFormation template (the `aws` target) with AWS's own tools.

1. cfn-lint: no errors, no warnings (informational findings fail too).
2. botocore: every rule, in the API form of AuthorizeSecurityGroupIngress/Egress, against
   the EC2 service model's input shapes (ParamValidator).
3. Our own value checks, which the above do not make: description length and charset, ports,
   protocols, at most 60 rules per group and direction, every group replaces allow-all egress.

Usage: python validate_aws.py TEMPLATE.json   (exit 0 valid, 1 findings)
"""
import json
import os
import re
import subprocess
import sys

import botocore.session
from botocore.validate import ParamValidator

DESCRIPTION = re.compile(r"^[a-zA-Z0-9. _\-:/()#,@\[\]+=&;{}!$*]{0,255}$")
PROTOCOLS = {"tcp", "udp", "icmp", "icmpv6", "-1", "47", "50", "51"}
FAKE_GROUP = "sg-0123456789abcdef0"


def fail(errors, msg):
    errors.append(msg)


def permission(rule, errors, where):
    """A CloudFormation rule as an EC2 API IpPermission."""
    p = {"IpProtocol": rule["IpProtocol"]}
    if "FromPort" in rule:
        p["FromPort"] = rule["FromPort"]
        p["ToPort"] = rule["ToPort"]
    desc = rule.get("Description", "")
    if not DESCRIPTION.match(desc):
        fail(errors, f"{where}: description not in AWS's charset or too long: {desc!r}")
    if "CidrIp" in rule:
        p["IpRanges"] = [{"CidrIp": rule["CidrIp"], "Description": desc}]
    elif "CidrIpv6" in rule:
        p["Ipv6Ranges"] = [{"CidrIpv6": rule["CidrIpv6"], "Description": desc}]
    elif "SourceSecurityGroupId" in rule or "DestinationSecurityGroupId" in rule:
        p["UserIdGroupPairs"] = [{"GroupId": FAKE_GROUP, "Description": desc}]
    else:
        fail(errors, f"{where}: rule has no peer")
    proto = rule["IpProtocol"]
    if proto not in PROTOCOLS:
        fail(errors, f"{where}: protocol {proto!r}")
    if proto in ("tcp", "udp"):
        lo, hi = rule.get("FromPort"), rule.get("ToPort")
        if not (isinstance(lo, int) and isinstance(hi, int) and 1 <= lo <= hi <= 65535):
            fail(errors, f"{where}: ports {lo}-{hi}")
    elif proto in ("icmp", "icmpv6"):
        if (rule.get("FromPort"), rule.get("ToPort")) != (-1, -1):
            fail(errors, f"{where}: ICMP must be -1/-1 here")
    return p


def main(path):
    errors = []
    venv_bin = os.path.dirname(sys.executable)
    lint = subprocess.run(
        [os.path.join(venv_bin, "cfn-lint"), "--format", "parseable", "--", path],
        capture_output=True,
        text=True,
    )
    if lint.returncode != 0:
        fail(errors, f"cfn-lint exit {lint.returncode}:\n{lint.stdout}{lint.stderr}")

    with open(path, encoding="utf-8") as f:
        tpl = json.load(f)
    ec2 = botocore.session.get_session().get_service_model("ec2")
    shapes = {
        "in": ec2.operation_model("AuthorizeSecurityGroupIngress").input_shape,
        "out": ec2.operation_model("AuthorizeSecurityGroupEgress").input_shape,
    }
    counts = {}
    resources = tpl["Resources"]
    perms = []  # (group logical id, direction, permission, where)
    for rid, res in resources.items():
        props = res["Properties"]
        if res["Type"] == "AWS::EC2::SecurityGroup":
            gd = props["GroupDescription"]
            if not DESCRIPTION.match(gd):
                fail(errors, f"{rid}: GroupDescription {gd!r}")
            if not props.get("SecurityGroupEgress"):
                fail(errors, f"{rid}: no inline egress: the default allow-all would stay")
            for i, r in enumerate(props.get("SecurityGroupIngress", [])):
                perms.append((rid, "in", permission(r, errors, f"{rid} ingress {i}"), rid))
            for i, r in enumerate(props.get("SecurityGroupEgress", [])):
                perms.append((rid, "out", permission(r, errors, f"{rid} egress {i}"), rid))
        elif res["Type"] in ("AWS::EC2::SecurityGroupIngress", "AWS::EC2::SecurityGroupEgress"):
            gid = props["GroupId"]["Fn::GetAtt"][0]
            if gid not in resources:
                fail(errors, f"{rid}: GroupId names unknown {gid}")
            d = "in" if res["Type"].endswith("Ingress") else "out"
            peer = props.get("SourceSecurityGroupId") or props.get("DestinationSecurityGroupId")
            if peer and peer["Fn::GetAtt"][0] not in resources:
                fail(errors, f"{rid}: peer group unknown")
            perms.append((gid, d, permission(props, errors, rid), rid))
        else:
            fail(errors, f"{rid}: unexpected type {res['Type']}")
    validator = ParamValidator()
    for gid, d, perm, where in perms:
        counts[(gid, d)] = counts.get((gid, d), 0) + 1
        params = {"GroupId": FAKE_GROUP, "IpPermissions": [perm]}
        report = validator.validate(params, shapes[d])
        if report.has_errors():
            fail(errors, f"{where}: botocore: {report.generate_report()}")
    for (gid, d), n in sorted(counts.items()):
        if n > 60:
            fail(errors, f"{gid}: {n} {d}bound rules, over the quota of 60")
    for e in errors:
        print(e)
    print(f"{path}: {len(perms)} rules in {len(resources)} resources, {len(errors)} problems")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
