//! EC2 calls of the AWS responder (Query protocol, version 2016-11-15): an instance's
//! state and network interfaces, stopping, starting and terminating it, and the
//! security groups of its interfaces (for isolation).

use super::query::{QueryReply, QueryService};
use super::{xml, AwsClient, AwsError};
use reqwest::Url;

const VERSION: &str = "2016-11-15";

/// What the responder needs to know of an instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instance {
    pub id: String,
    /// `pending`, `running`, `stopping`, `stopped`, `shutting-down`, `terminated`.
    pub state: String,
    pub vpc_id: Option<String>,
    /// Each network interface with its security group ids, in EC2's order.
    pub interfaces: Vec<Interface>,
}

/// A network interface of an instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interface {
    pub id: String,
    pub groups: Vec<String>,
}

/// The EC2 calls of one client in one region.
#[derive(Clone)]
pub struct Ec2 {
    service: QueryService,
}

impl Ec2 {
    pub fn new(client: &AwsClient) -> Result<Ec2, String> {
        let settings = client.settings();
        let origin = match &settings.endpoint {
            Some(endpoint) => endpoint.clone(),
            None => Url::parse(&format!("https://ec2.{}.amazonaws.com/", settings.region))
                .map_err(|e| format!("no EC2 endpoint for region `{}`: {e}", settings.region))?,
        };
        Ok(Ec2 {
            service: QueryService::new(client.clone(), origin, "ec2", VERSION),
        })
    }

    /// Any EC2 call (the tests launch instances with it).
    pub async fn call(
        &self,
        action: &str,
        params: &[(&str, &str)],
        target: &str,
    ) -> Result<QueryReply, AwsError> {
        self.service.call(action, params, target).await
    }

    /// The instance, or an `InvalidInstanceID.NotFound` error.
    pub async fn describe_instance(&self, id: &str) -> Result<Instance, AwsError> {
        let target = format!("instance {id}");
        let reply = self
            .call("DescribeInstances", &[("InstanceId.1", id)], &target)
            .await?;
        let bad = |reason: String| AwsError::Malformed {
            target: format!("EC2 DescribeInstances {target}"),
            reason,
        };
        parse_instance(&reply.xml, id).map_err(bad)
    }

    async fn instance_call(&self, action: &str, id: &str) -> Result<QueryReply, AwsError> {
        self.call(action, &[("InstanceId.1", id)], &format!("instance {id}"))
            .await
    }

    pub async fn stop_instance(&self, id: &str) -> Result<QueryReply, AwsError> {
        self.instance_call("StopInstances", id).await
    }

    pub async fn start_instance(&self, id: &str) -> Result<QueryReply, AwsError> {
        self.instance_call("StartInstances", id).await
    }

    pub async fn terminate_instance(&self, id: &str) -> Result<QueryReply, AwsError> {
        self.instance_call("TerminateInstances", id).await
    }

    /// The id of the security group called `name` in `vpc`, if there is one.
    pub async fn find_security_group(
        &self,
        vpc: &str,
        name: &str,
    ) -> Result<Option<String>, AwsError> {
        let reply = self
            .call(
                "DescribeSecurityGroups",
                &[
                    ("Filter.1.Name", "group-name"),
                    ("Filter.1.Value.1", name),
                    ("Filter.2.Name", "vpc-id"),
                    ("Filter.2.Value.1", vpc),
                ],
                &format!("group {name} in {vpc}"),
            )
            .await?;
        xml::text(&reply.xml, "groupId").map_err(|reason| AwsError::Malformed {
            target: format!("EC2 DescribeSecurityGroups {name}"),
            reason,
        })
    }

    /// A new security group in `vpc` that lets nothing in or out: created without
    /// ingress rules, and the all-traffic egress rule EC2 adds is revoked.
    pub async fn create_closed_security_group(
        &self,
        vpc: &str,
        name: &str,
    ) -> Result<String, AwsError> {
        let target = format!("group {name} in {vpc}");
        let reply = self
            .call(
                "CreateSecurityGroup",
                &[
                    ("GroupName", name),
                    (
                        "GroupDescription",
                        "pipectl quarantine: no traffic in or out",
                    ),
                    ("VpcId", vpc),
                ],
                &target,
            )
            .await?;
        let id = xml::text(&reply.xml, "groupId")
            .ok()
            .flatten()
            .ok_or_else(|| AwsError::Malformed {
                target: format!("EC2 CreateSecurityGroup {target}"),
                reason: "no groupId in the answer".to_string(),
            })?;
        self.call(
            "RevokeSecurityGroupEgress",
            &[
                ("GroupId", &id),
                ("IpPermissions.1.IpProtocol", "-1"),
                ("IpPermissions.1.IpRanges.1.CidrIp", "0.0.0.0/0"),
            ],
            &format!("group {id}"),
        )
        .await?;
        Ok(id)
    }

    /// Replaces the security groups of one network interface.
    pub async fn set_interface_groups(
        &self,
        interface: &str,
        groups: &[String],
    ) -> Result<QueryReply, AwsError> {
        let names: Vec<String> = (1..=groups.len())
            .map(|i| format!("SecurityGroupId.{i}"))
            .collect();
        let mut params: Vec<(&str, &str)> = vec![("NetworkInterfaceId", interface)];
        params.extend(
            names
                .iter()
                .map(String::as_str)
                .zip(groups.iter().map(String::as_str)),
        );
        self.call(
            "ModifyNetworkInterfaceAttribute",
            &params,
            &format!("interface {interface}"),
        )
        .await
    }
}

/// The instance `id` in a `DescribeInstancesResponse`.
fn parse_instance(answer: &str, id: &str) -> Result<Instance, String> {
    for reservation in xml::blocks(answer, "reservationSet")? {
        for item in xml::blocks(reservation, "item")? {
            let Some(instances) = xml::block(item, "instancesSet")? else {
                continue;
            };
            for instance in xml::blocks(instances, "item")? {
                if xml::text(instance, "instanceId")?.as_deref() != Some(id) {
                    continue;
                }
                let state = xml::block(instance, "instanceState")?
                    .map(|s| xml::text(s, "name"))
                    .transpose()?
                    .flatten()
                    .unwrap_or_default();
                let mut interfaces = Vec::new();
                if let Some(set) = xml::block(instance, "networkInterfaceSet")? {
                    for eni in xml::blocks(set, "item")? {
                        let Some(eni_id) = xml::text(eni, "networkInterfaceId")? else {
                            continue;
                        };
                        let mut groups = Vec::new();
                        if let Some(group_set) = xml::block(eni, "groupSet")? {
                            for group in xml::blocks(group_set, "item")? {
                                groups.extend(xml::text(group, "groupId")?);
                            }
                        }
                        interfaces.push(Interface { id: eni_id, groups });
                    }
                }
                return Ok(Instance {
                    id: id.to_string(),
                    state,
                    vpc_id: xml::text(instance, "vpcId")?,
                    interfaces,
                });
            }
        }
    }
    Err(format!("instance {id} is not in the answer"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instances_with_their_interfaces_and_groups() {
        let answer = "<DescribeInstancesResponse><reservationSet><item><reservationId>r-1</reservationId><groupSet/><instancesSet><item><instanceId>i-1</instanceId><instanceState><code>16</code><name>running</name></instanceState><vpcId>vpc-1</vpcId><groupSet><item><groupId>sg-a</groupId></item></groupSet><networkInterfaceSet><item><networkInterfaceId>eni-1</networkInterfaceId><groupSet><item><groupId>sg-a</groupId><groupName>a</groupName></item><item><groupId>sg-b</groupId></item></groupSet></item><item><networkInterfaceId>eni-2</networkInterfaceId><groupSet><item><groupId>sg-c</groupId></item></groupSet></item></networkInterfaceSet></item></instancesSet></item></reservationSet></DescribeInstancesResponse>";
        let instance = parse_instance(answer, "i-1").unwrap();
        assert_eq!(instance.state, "running");
        assert_eq!(instance.vpc_id.as_deref(), Some("vpc-1"));
        assert_eq!(
            instance.interfaces,
            [
                Interface {
                    id: "eni-1".into(),
                    groups: vec!["sg-a".into(), "sg-b".into()]
                },
                Interface {
                    id: "eni-2".into(),
                    groups: vec!["sg-c".into()]
                }
            ]
        );
        assert!(parse_instance(answer, "i-2").is_err());
        assert!(parse_instance("<reservationSet><item>", "i-1").is_err());
    }
}
