//! Every input's name, once: [`Input`] lists exactly the inputs `action.yml` declares (a test compares
//! them), and every [`Inputs`](super::Inputs) reader takes an `Input`, so a misspelt or undeclared input is a
//! compile error, not an input the runner never passes.

use std::fmt;

macro_rules! inputs {
    ($($variant:ident = $name:literal,)*) => {
        /// One input declared in `action.yml`.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum Input {
            $($variant,)*
        }

        impl Input {
            /// Every input, in `action.yml` order.
            pub const ALL: &'static [Input] = &[$(Input::$variant,)*];

            /// The name users write under `with:`.
            #[must_use]
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(Input::$variant => $name,)*
                }
            }
        }
    };
}

inputs! {
    Mode = "mode",
    GithubToken = "github-token",
    DryRun = "dry-run",
    ReportKey = "report-key",
    Comment = "comment",
    Notify = "notify",
    AwsRegion = "aws-region",
    RoleToAssume = "role-to-assume",
    Audience = "audience",
    RoleSessionName = "role-session-name",
    RoleDurationSeconds = "role-duration-seconds",
    RoleChain = "role-chain",
    Environment = "environment",
    Environments = "environments",
    TriggerPolicy = "trigger-policy",
    AllowAwsCredentialChain = "allow-aws-credential-chain",
    OutputEnvCredentials = "output-env-credentials",
    OutputCredentials = "output-credentials",
    MaskAwsAccountId = "mask-aws-account-id",
    Checks = "checks",
    GeneratedFiles = "generated-files",
    GeneratedFilesIgnore = "generated-files-ignore",
    PrTitle = "pr-title",
    PrTitleTypes = "pr-title-types",
    PrTitleScopes = "pr-title-scopes",
    PrTitleRequireScope = "pr-title-require-scope",
    BuildType = "build-type",
    ServiceName = "service-name",
    Version = "version",
    EcrRepository = "ecr-repository",
    CreateRepository = "create-repository",
    Registry = "registry",
    Context = "context",
    Dockerfile = "dockerfile",
    BuildArgs = "build-args",
    Target = "target",
    BuildNetwork = "build-network",
    Tags = "tags",
    ScanSeverityThreshold = "scan-severity-threshold",
    ScanTimeout = "scan-timeout",
    BundleDir = "bundle-dir",
    BundleFile = "bundle-file",
    BundleIncludePycache = "bundle-include-pycache",
    S3Prefix = "s3-prefix",
    Cluster = "cluster",
    Service = "service",
    Container = "container",
    Image = "image",
    TaskDefinition = "task-definition",
    WaitTimeout = "wait-timeout",
    Rollback = "rollback",
    EnvironmentVariables = "environment-variables",
    WaitForDrain = "wait-for-drain",
    PreDeployTask = "pre-deploy-task",
    PostDeployTask = "post-deploy-task",
    RollbackTo = "rollback-to",
    PromoteFrom = "promote-from",
    AppRunnerService = "app-runner-service",
    ExpressService = "express-service",
    FunctionName = "function-name",
    Alias = "alias",
    EventRules = "event-rules",
    Preview = "preview",
    PreviewUrlAuth = "preview-url-auth",
    PreviewMax = "preview-max",
    PreviewTtl = "preview-ttl",
    PreviewDesiredCount = "preview-desired-count",
    PreviewListenerArn = "preview-listener-arn",
    PreviewHost = "preview-host",
    ZipFile = "zip-file",
    S3Bucket = "s3-bucket",
    S3Key = "s3-key",
    Traffic = "traffic",
    Alarms = "alarms",
    HealthUrl = "health-url",
    HealthStatus = "health-status",
    HealthInterval = "health-interval",
    HealthPasses = "health-passes",
    TestPayload = "test-payload",
    MemorySize = "memory-size",
    FunctionTimeout = "function-timeout",
    Handler = "handler",
    Runtime = "runtime",
    TagPrefix = "tag-prefix",
    ReleaseBranches = "release-branches",
    PrereleaseBranches = "prerelease-branches",
    BumpRules = "bump-rules",
    BreakingBelow1 = "breaking-below-1",
    InitialVersion = "initial-version",
    ReleaseLabelPrefix = "release-label-prefix",
    FloatingTag = "floating-tag",
    PromoteImage = "promote-image",
    Packages = "packages",
    NpmRegistry = "npm-registry",
    PypiRepository = "pypi-repository",
    PypiAudience = "pypi-audience",
    NpmToken = "npm-token",
    PypiToken = "pypi-token",
    NpmProvenance = "npm-provenance",
    Plans = "plans",
    PlanCheck = "plan-check",
    Protect = "protect",
    ProtectedEnvironments = "protected-environments",
    AllowDestroyLabel = "allow-destroy-label",
    Volatile = "volatile",
    Outputs = "outputs",
}

impl fmt::Display for Input {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::Input;

    /// The names `action.yml` declares under `inputs:` (top-level keys of that mapping, two-space indent).
    fn declared() -> Vec<&'static str> {
        let yml = include_str!("../../action.yml");
        let mut in_inputs = false;
        let mut names = Vec::new();
        for line in yml.lines() {
            if !line.starts_with(' ') && !line.trim().is_empty() && !line.starts_with('#') {
                in_inputs = line.trim_end() == "inputs:";
                continue;
            }
            if in_inputs
                && let Some(rest) = line.strip_prefix("  ")
                && !rest.starts_with(' ')
                && !rest.starts_with('#')
                && let Some((key, _)) = rest.split_once(':')
            {
                names.push(key.trim());
            }
        }
        names
    }

    #[test]
    fn the_list_is_exactly_the_inputs_action_yml_declares_in_its_order() {
        let ours: Vec<&str> = Input::ALL.iter().map(|i| i.as_str()).collect();
        assert_eq!(ours, declared());
    }

    #[test]
    fn names_are_unique() {
        let mut names: Vec<&str> = Input::ALL.iter().map(|i| i.as_str()).collect();
        names.sort_unstable();
        let n = names.len();
        names.dedup();
        assert_eq!(names.len(), n);
    }
}
