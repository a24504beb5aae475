//! The CloudFormation template, serialised from the model in its key order as it is written.

use std::borrow::Cow;

use serde::Serialize;
use serde_json::{json, Value};

use super::{group_id, Dir, Family, Group, Peer, Rule, Template};

impl Serialize for Template {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        #[serde(rename_all = "PascalCase")]
        struct Doc<'a> {
            #[serde(rename = "AWSTemplateFormatVersion")]
            version: &'static str,
            description: &'a str,
            parameters: Value,
            resources: Resources<'a>,
            outputs: Outputs<'a>,
        }
        Doc {
            version: "2010-09-09",
            description: &self.description,
            parameters: json!({
                "VpcId": {
                    "Type": "AWS::EC2::VPC::Id",
                    "Description": "The VPC that holds the aws zones of this topology"
                }
            }),
            resources: Resources(&self.groups),
            outputs: Outputs(&self.groups),
        }
        .serialize(s)
    }
}

/// `{"Fn::GetAtt": [<id>, "GroupId"]}`: a group's id.
#[derive(Serialize)]
struct GetAtt<'a> {
    #[serde(rename = "Fn::GetAtt")]
    get_att: (Cow<'a, str>, &'static str),
}

fn getatt<'a>(id: impl Into<Cow<'a, str>>) -> GetAtt<'a> {
    GetAtt {
        get_att: (id.into(), "GroupId"),
    }
}

/// A rule as CloudFormation has it, inline (no `GroupId`) or as a resource.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct CfnRule<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    group_id: Option<GetAtt<'a>>,
    ip_protocol: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    from_port: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    to_port: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    source_security_group_id: Option<GetAtt<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    destination_security_group_id: Option<GetAtt<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    cidr_ip: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    cidr_ipv6: Option<&'a str>,
    description: &'a str,
}

impl<'a> CfnRule<'a> {
    /// The rule `r`; `group`: the group it belongs to, for a rule that is a resource of its own.
    fn of(group: Option<&'a str>, r: &'a Rule) -> CfnRule<'a> {
        let k = &r.key;
        let mut rule = CfnRule {
            group_id: group.map(getatt),
            ip_protocol: k.proto,
            from_port: k.ports.map(|p| p.0),
            to_port: k.ports.map(|p| p.1),
            source_security_group_id: None,
            destination_security_group_id: None,
            cidr_ip: None,
            cidr_ipv6: None,
            description: &r.description,
        };
        match (&k.peer, k.dir) {
            // A component is referenced by its first group.
            (Peer::Group(c), Dir::In) => {
                rule.source_security_group_id = Some(getatt(group_id(c, 0)))
            }
            (Peer::Group(c), Dir::Out) => {
                rule.destination_security_group_id = Some(getatt(group_id(c, 0)))
            }
            (Peer::Cidr(Family::V4, n), _) => rule.cidr_ip = Some(n),
            (Peer::Cidr(Family::V6, n), _) => rule.cidr_ipv6 = Some(n),
        }
        rule
    }
}

/// `{"Type": ..., "Properties": ...}`
#[derive(Serialize)]
struct Resource<P> {
    #[serde(rename = "Type")]
    ty: &'static str,
    #[serde(rename = "Properties")]
    properties: P,
}

/// The groups, each followed by its separate rules.
struct Resources<'a>(&'a [Group]);

impl Serialize for Resources<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = s.serialize_map(None)?;
        for g in self.0 {
            m.serialize_entry(&g.id, &GroupResource(g))?;
            for sep in &g.separate {
                let ty = match sep.rule.key.dir {
                    Dir::In => "AWS::EC2::SecurityGroupIngress",
                    Dir::Out => "AWS::EC2::SecurityGroupEgress",
                };
                let properties = CfnRule::of(Some(&g.id), &sep.rule);
                m.serialize_entry(&sep.id, &Resource { ty, properties })?;
            }
        }
        m.end()
    }
}

struct GroupResource<'a>(&'a Group);

impl Serialize for GroupResource<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        #[serde(rename_all = "PascalCase")]
        struct Props<'a> {
            group_description: &'a str,
            vpc_id: Value,
            security_group_ingress: Vec<CfnRule<'a>>,
            security_group_egress: Vec<CfnRule<'a>>,
            tags: [Tag<'a>; 2],
        }
        #[derive(Serialize)]
        #[serde(rename_all = "PascalCase")]
        struct Tag<'a> {
            key: &'a str,
            value: &'a str,
        }
        let g = self.0;
        fn inline(rules: &[Rule]) -> Vec<CfnRule<'_>> {
            rules.iter().map(|r| CfnRule::of(None, r)).collect()
        }
        let mut egress = inline(&g.egress);
        if egress.is_empty() {
            // Without an inline egress rule CloudFormation keeps the allow-all default.
            let separate = g.separate.iter().any(|s| s.rule.key.dir == Dir::Out);
            egress.push(CfnRule {
                group_id: None,
                ip_protocol: "-1",
                from_port: None,
                to_port: None,
                source_security_group_id: None,
                destination_security_group_id: None,
                cidr_ip: Some("127.0.0.1/32"),
                cidr_ipv6: None,
                description: if separate {
                    "Replaces the default allow-all egress; the rules of this group are separate resources"
                } else {
                    "No egress from this group: replaces the default allow-all egress rule"
                },
            });
        }
        Resource {
            ty: "AWS::EC2::SecurityGroup",
            properties: Props {
                group_description: &g.description,
                vpc_id: json!({ "Ref": "VpcId" }),
                security_group_ingress: inline(&g.ingress),
                security_group_egress: egress,
                tags: [
                    Tag {
                        key: "Name",
                        value: &g.name,
                    },
                    Tag {
                        key: "ctxfw:component",
                        value: &g.comp,
                    },
                ],
            },
        }
        .serialize(s)
    }
}

/// Each group's id as an output, `<group>Id`.
struct Outputs<'a>(&'a [Group]);

impl Serialize for Outputs<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        #[serde(rename_all = "PascalCase")]
        struct Output<'a> {
            description: String,
            value: GetAtt<'a>,
        }
        s.collect_map(self.0.iter().map(|g| {
            (
                format!("{}Id", g.id),
                Output {
                    description: g.output_description(),
                    value: getatt(&g.id),
                },
            )
        }))
    }
}
