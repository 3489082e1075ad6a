//! EventBridge (`awsJson1_1`, `X-Amz-Target: AWSEvents.<Operation>`) through the signed JSON-RPC client
//! ([`super::json_rpc`]): the rule and target calls the `event-rules` sync makes
//! (<https://docs.aws.amazon.com/eventbridge/latest/APIReference/API_Operations.html>), with typed answers.
//!
//! Endpoint: `AWS_ENDPOINT_URL_EVENTBRIDGE`, then `AWS_ENDPOINT_URL`, then the host EventBridge's endpoint
//! rules give ([`super::endpoints::EVENTS`]: `https://events.<region>.amazonaws.com/`). Every request is
//! guarded by the run's [`Cancel`]; throttling, 5xx and transport errors are retried. A failed call is a
//! [`CallError`] whose `code` is EventBridge's exception name (`ResourceNotFoundException`, ...).

use aws_types::SdkConfig;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::call::CallError;
use super::json_rpc::{JsonRpc, Service};
use crate::net::Net;

/// EventBridge (awsJson1_1).
pub const SERVICE: Service = Service {
    service_id: "EventBridge",
    signing_name: "events",
    endpoint: &super::endpoints::EVENTS,
    content_type: "application/x-amz-json-1.1",
    target_prefix: "AWSEvents",
};

/// At most this many pages are read from one listing (100 items each).
const MAX_PAGES: usize = 100;

/// A rule as `DescribeRule` describes it.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub struct Rule {
    pub name: Option<String>,
    pub arn: Option<String>,
    pub event_pattern: Option<String>,
    pub schedule_expression: Option<String>,
    /// `ENABLED`, `DISABLED`, `ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS`.
    pub state: Option<String>,
    pub description: Option<String>,
    pub event_bus_name: Option<String>,
    /// Set on rules another service manages for the caller (they are never touched).
    pub managed_by: Option<String>,
}

/// `PutRule`'s request.
#[derive(Clone, Debug, Default, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct PutRule {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event_bus_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub schedule_expression: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event_pattern: Option<String>,
    pub state: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Applied when the rule is created (`PutRule` ignores them on an update).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<Tag>,
}

/// A tag.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub struct Tag {
    pub key: String,
    pub value: String,
}

/// A rule's target.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub struct Target {
    pub id: String,
    pub arn: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub input: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RuleArn {
    rule_arn: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Page<T> {
    #[serde(
        default = "Vec::new",
        alias = "EventBuses",
        alias = "RuleNames",
        alias = "Targets"
    )]
    items: Vec<T>,
    next_token: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Bus {
    name: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Tags {
    #[serde(default)]
    tags: Vec<Tag>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct FailedEntries {
    #[serde(default)]
    failed_entry_count: i64,
    #[serde(default)]
    failed_entries: Vec<Value>,
}

/// A signed EventBridge client.
#[derive(Clone, Debug)]
pub struct Events {
    rpc: JsonRpc,
}

impl Events {
    /// The client for `sdk`'s credentials, region and endpoint overrides, over `net`'s roots and proxy,
    /// stopping at `net`'s cancellation flag.
    pub fn new(sdk: &SdkConfig, net: &Net) -> Result<Self, reqwest::Error> {
        Ok(Self {
            rpc: JsonRpc::over(sdk, SERVICE, net)?,
        })
    }

    /// The endpoint calls go to, or why there is none.
    pub fn url(&self) -> Result<&str, &super::endpoints::EndpointError> {
        self.rpc.url()
    }

    async fn call<T: DeserializeOwned>(
        &self,
        op: &'static str,
        resource: &str,
        body: &Value,
    ) -> Result<T, CallError> {
        self.rpc.call_as(op, resource, body).await
    }

    /// Every page of a listing: `body` with `NextToken` set from the previous answer.
    async fn all<T: DeserializeOwned>(
        &self,
        op: &'static str,
        resource: &str,
        body: Value,
    ) -> Result<Vec<T>, CallError> {
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let mut b = body.clone();
            if let (Some(t), Some(obj)) = (&token, b.as_object_mut()) {
                obj.insert("NextToken".into(), Value::String(t.clone()));
            }
            let page: Page<T> = self.call(op, resource, &b).await?;
            out.extend(page.items);
            token = page.next_token.filter(|t| !t.is_empty());
            if token.is_none() {
                break;
            }
        }
        Ok(out)
    }

    /// `ListEventBuses`: the names of the account's buses (`default` among them).
    pub async fn list_event_buses(&self) -> Result<Vec<String>, CallError> {
        let buses: Vec<Bus> = self
            .all("ListEventBuses", "", json!({ "Limit": 100 }))
            .await?;
        Ok(buses.into_iter().filter_map(|b| b.name).collect())
    }

    /// `ListRuleNamesByTarget`: the rules of `bus` with a target `arn`.
    pub async fn list_rule_names_by_target(
        &self,
        bus: &str,
        arn: &str,
    ) -> Result<Vec<String>, CallError> {
        self.all(
            "ListRuleNamesByTarget",
            arn,
            json!({ "TargetArn": arn, "EventBusName": bus, "Limit": 100 }),
        )
        .await
    }

    /// `DescribeRule`; `None` when there is no such rule.
    pub async fn describe_rule(&self, bus: &str, name: &str) -> Result<Option<Rule>, CallError> {
        match self
            .call(
                "DescribeRule",
                name,
                &json!({ "Name": name, "EventBusName": bus }),
            )
            .await
        {
            Ok(r) => Ok(Some(r)),
            Err(e) if e.code.as_deref() == Some("ResourceNotFoundException") => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// `PutRule` (creates or updates); the rule's ARN.
    pub async fn put_rule(&self, req: &PutRule) -> Result<String, CallError> {
        let body = serde_json::to_value(req).unwrap_or(Value::Null);
        let out: RuleArn = self.call("PutRule", &req.name, &body).await?;
        Ok(out.rule_arn.unwrap_or_default())
    }

    /// `ListTargetsByRule`.
    pub async fn list_targets_by_rule(
        &self,
        bus: &str,
        rule: &str,
    ) -> Result<Vec<Target>, CallError> {
        self.all(
            "ListTargetsByRule",
            rule,
            json!({ "Rule": rule, "EventBusName": bus, "Limit": 100 }),
        )
        .await
    }

    /// `PutTargets`; a target EventBridge refused is an error.
    pub async fn put_targets(
        &self,
        bus: &str,
        rule: &str,
        targets: &[Target],
    ) -> Result<(), CallError> {
        self.targets("PutTargets", bus, rule, ("Targets", json!(targets)))
            .await
    }

    /// `RemoveTargets` `ids` of `rule`.
    pub async fn remove_targets(
        &self,
        bus: &str,
        rule: &str,
        ids: &[String],
    ) -> Result<(), CallError> {
        self.targets("RemoveTargets", bus, rule, ("Ids", json!(ids)))
            .await
    }

    /// `PutTargets` or `RemoveTargets` on `rule` with the one list `field` names; an entry EventBridge
    /// refused is an error.
    async fn targets(
        &self,
        op: &'static str,
        bus: &str,
        rule: &str,
        (field, list): (&str, Value),
    ) -> Result<(), CallError> {
        let mut body = json!({ "Rule": rule, "EventBusName": bus });
        body[field] = list;
        let out: FailedEntries = self.call(op, rule, &body).await?;
        failed(op, rule, &out)
    }

    /// `DeleteRule` (its targets must be removed first).
    pub async fn delete_rule(&self, bus: &str, name: &str) -> Result<(), CallError> {
        self.call::<Value>(
            "DeleteRule",
            name,
            &json!({ "Name": name, "EventBusName": bus }),
        )
        .await
        .map(drop)
    }

    /// `ListTagsForResource`.
    pub async fn list_tags(&self, arn: &str) -> Result<Vec<Tag>, CallError> {
        let out: Tags = self
            .call("ListTagsForResource", arn, &json!({ "ResourceARN": arn }))
            .await?;
        Ok(out.tags)
    }
}

fn failed(op: &'static str, rule: &str, out: &FailedEntries) -> Result<(), CallError> {
    if out.failed_entry_count == 0 && out.failed_entries.is_empty() {
        return Ok(());
    }
    let first = out
        .failed_entries
        .first()
        .map(|e| {
            format!(
                "{}: {}",
                e.get("ErrorCode").and_then(Value::as_str).unwrap_or("?"),
                e.get("ErrorMessage").and_then(Value::as_str).unwrap_or("")
            )
        })
        .unwrap_or_default();
    let code = out
        .failed_entries
        .first()
        .and_then(|e| e.get("ErrorCode"))
        .and_then(Value::as_str)
        .map(str::to_owned);
    Err(CallError::plain(
        SERVICE.service_id,
        op,
        rule,
        code,
        format!(
            "{} target(s) refused: {}",
            out.failed_entry_count.max(1),
            super::json_rpc::excerpt(&first)
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_use_eventbridge_member_names() {
        let put = PutRule {
            name: "nightly".into(),
            schedule_expression: Some("rate(1 day)".into()),
            state: "ENABLED".into(),
            tags: vec![Tag {
                key: "k".into(),
                value: "v".into(),
            }],
            ..PutRule::default()
        };
        assert_eq!(
            serde_json::to_value(&put).unwrap(),
            json!({"Name": "nightly", "ScheduleExpression": "rate(1 day)", "State": "ENABLED",
                   "Tags": [{"Key": "k", "Value": "v"}]})
        );
        let page: Page<String> =
            serde_json::from_value(json!({"RuleNames": ["a", "b"], "NextToken": "t"})).unwrap();
        assert_eq!(
            (page.items.len(), page.next_token.as_deref()),
            (2, Some("t"))
        );
    }
}
