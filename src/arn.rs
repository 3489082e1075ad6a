//! Amazon Resource Names, `arn:<partition>:<service>:<region>:<account>:<resource>`, split in one place.
//!
//! Each caller checks the parts it cares about (an IAM role, an App Runner or ECS service, a load
//! balancer listener, a task definition); this module only splits, and imports nothing of the crate.

/// The six parts of an ARN (the resource keeps its own `:` and `/`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Arn<'a> {
    pub partition: &'a str,
    pub service: &'a str,
    pub region: &'a str,
    pub account: &'a str,
    pub resource: &'a str,
}

impl<'a> Arn<'a> {
    /// Splits `s`; `None` unless it starts with `arn:` and has all six parts.
    #[must_use]
    pub fn parse(s: &'a str) -> Option<Self> {
        let mut it = s.splitn(6, ':');
        let (
            Some("arn"),
            Some(partition),
            Some(service),
            Some(region),
            Some(account),
            Some(resource),
        ) = (
            it.next(),
            it.next(),
            it.next(),
            it.next(),
            it.next(),
            it.next(),
        )
        else {
            return None;
        };
        Some(Self {
            partition,
            service,
            region,
            account,
            resource,
        })
    }

    /// Whether the account is an AWS account id (12 digits).
    #[must_use]
    pub fn account_is_id(&self) -> bool {
        self.account.len() == 12 && self.account.bytes().all(|b| b.is_ascii_digit())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn six_parts_or_none() {
        let a = Arn::parse("arn:aws:ecs:eu-west-1:123456789012:task-definition/web:7").unwrap();
        assert_eq!(
            (a.partition, a.service, a.region, a.account, a.resource),
            (
                "aws",
                "ecs",
                "eu-west-1",
                "123456789012",
                "task-definition/web:7"
            )
        );
        assert!(a.account_is_id());
        assert_eq!(
            Arn::parse("arn:aws:iam::123456789012:role/x")
                .unwrap()
                .region,
            ""
        );
        assert_eq!(Arn::parse("arn:aws:ecs:eu-west-1:123456789012"), None);
        assert_eq!(Arn::parse("nra:aws:ecs:eu-west-1:123456789012:x"), None);
    }
}
