//! One moto server per test process, on a free loopback port.
//!
//! moto (`moto[server]` from PyPI, pinned in `.ci/run`) plays STS, ECS, Lambda, CloudWatch, ECR, S3 and
//! IAM. Tests share the server and keep apart by using unique resource names ([`unique`]).

use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use super::free_port;
use super::tied::{self, Tied};

pub struct Moto {
    pub endpoint: String,
    /// Stops the server when dropped, and when the test process ends however it ends ([`tied`]): the
    /// shared server lives in a `static`, which is never dropped.
    _child: Tied,
}

static MOTO: OnceLock<Option<Moto>> = OnceLock::new();

fn start() -> Option<Moto> {
    let bin = std::env::var("MOTO_SERVER").unwrap_or_else(|_| "moto_server".to_owned());
    let port = free_port();
    let mut cmd = Command::new(&bin);
    cmd.args(["-H", "127.0.0.1", "-p", &port.to_string()])
        // Image functions as in AWS: the image must exist in (moto's) ECR and `CodeSha256` is its digest,
        // instead of moto's default stub (a hash of the URI string).
        .env("MOTO_LAMBDA_STUB_ECR", "false");
    let mut child = tied::spawn(&cmd, Stdio::null(), Stdio::null()).ok()?;
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            let endpoint = format!("http://127.0.0.1:{port}");
            // Lambda invoke without Docker (see DESIGN.md notes).
            post_json(
                port,
                "/moto-api/config",
                r#"{"lambda": {"use_docker": false}}"#,
            );
            return Some(Moto {
                endpoint,
                _child: child,
            });
        }
        // Not installed (127), or it stopped (the port taken meanwhile): no server.
        if child.try_wait().is_some() {
            return None;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    None
}

/// The shared moto server, or `None` (skip) when moto is not installed and `CI` is not `true`.
pub fn moto() -> Option<&'static Moto> {
    super::require(
        "moto_server (pip install 'moto[server]')",
        MOTO.get_or_init(start).as_ref(),
    )
}

/// A moto server of the caller's own (dropped with it), for tests whose resource names are fixed (an
/// example's function names) and would collide on the shared one; `None` as for [`moto`].
pub fn own() -> Option<Moto> {
    super::require("moto_server (pip install 'moto[server]')", start())
}

/// A name unique within this test process, for AWS resources on the shared server.
pub fn unique(prefix: &str) -> String {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static N: AtomicUsize = AtomicUsize::new(0);
    format!(
        "{prefix}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// A minimal HTTP/1.1 POST (moto's control API), without pulling an HTTP client into the rig.
pub fn post_json(port: u16, path: &str, body: &str) -> String {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(
        s,
        "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out
}

/// stevedore's own ECR client ([`stevedore::aws::ecr::Ecr`]) for `sdk` (its endpoint: moto), as test setup
/// and inspection use it.
pub fn ecr(sdk: &aws_types::SdkConfig) -> stevedore::aws::ecr::Ecr {
    let net = stevedore::net::Net::from_env(&stevedore::Env::from_pairs::<&str, &str>([]));
    stevedore::aws::ecr::Ecr::new(sdk, &net).unwrap()
}

/// A repository `name` in moto's ECR (ignored when it exists already, as infrastructure would leave it).
pub async fn ecr_repository(sdk: &aws_types::SdkConfig, name: &str) {
    let req = stevedore::aws::ecr::CreateRepository {
        repository_name: name.to_owned(),
        ..Default::default()
    };
    match ecr(sdk).create_repository(&req).await {
        Ok(_) => {}
        Err(e) if e.code.as_deref() == Some("RepositoryAlreadyExistsException") => {}
        Err(e) => panic!("{e}"),
    }
}

/// An SDK configuration for moto at `endpoint` in `region`, with moto's `testing` keys (and rustls' provider
/// installed, as every client built from it needs).
pub fn sdk(endpoint: &str, region: &str) -> aws_types::SdkConfig {
    stevedore::net::crypto::install();
    let creds = aws_credential_types::Credentials::new("testing", "testing", None, None, "test");
    aws_types::SdkConfig::builder()
        .http_client(stevedore::aws::http_client(&stevedore::Env::default()))
        .behavior_version(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new(region.to_owned()))
        .credentials_provider(aws_credential_types::provider::SharedCredentialsProvider::new(creds))
        .endpoint_url(endpoint)
        .build()
}

/// A deterministic zip holding one handler file `app.py`.
pub fn zip(body: &str) -> Vec<u8> {
    use std::io::Write;
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    w.start_file("app.py", zip::write::SimpleFileOptions::default())
        .unwrap();
    w.write_all(body.as_bytes()).unwrap();
    w.finish().unwrap().into_inner()
}

/// Creates an IAM role in moto through the IAM query protocol (the role Lambda's CreateFunction checks).
pub async fn create_role(endpoint: &str, name: &str) -> String {
    create_role_as(endpoint, "testing", name).await
}

/// [`create_role`] in the account of `access_key` (moto reads the account from the key's owner).
pub async fn create_role_as(endpoint: &str, access_key: &str, name: &str) -> String {
    let policy = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;
    let r = crate::helpers::reqwest_client()
        .post(format!("{endpoint}/"))
        .header(
            "Authorization",
            format!("AWS4-HMAC-SHA256 Credential={access_key}/20260101/us-east-1/iam/aws4_request, SignedHeaders=host, Signature=0"),
        )
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(
            url::form_urlencoded::Serializer::new(String::new())
                .extend_pairs([
                    ("Action", "CreateRole"),
                    ("Version", "2010-05-08"),
                    ("RoleName", name),
                    ("AssumeRolePolicyDocument", policy),
                ])
                .finish(),
        )
        .send()
        .await
        .unwrap();
    let status = r.status();
    let body = r.text().await.unwrap();
    assert!(status.is_success(), "CreateRole: {status} {body}");
    let start = body.find("<Arn>").unwrap() + 5;
    let end = body.find("</Arn>").unwrap();
    body[start..end].to_owned()
}

/// A function `name` in moto (its role `{name}-role` made first) with `code` published as version 1 —
/// a Python zip (`app.handler`), or an image URI (`Image:<uri>`) — and, given `alias`, that alias on
/// version 1: the release every Lambda deploy, rollback and preview test starts from.
pub async fn lambda_function(
    sdk: &aws_types::SdkConfig,
    endpoint: &str,
    name: &str,
    code: LambdaCode<'_>,
    alias: Option<&str>,
) {
    use aws_sdk_lambda::types::{FunctionCode, PackageType, Runtime};
    let lambda = aws_sdk_lambda::Client::new(sdk);
    let role = create_role(endpoint, &format!("{name}-role")).await;
    let create = lambda.create_function().function_name(name).role(role);
    let create = match code {
        LambdaCode::Python(body) => create
            .runtime(Runtime::Python312)
            .handler("app.handler")
            .code(
                FunctionCode::builder()
                    .zip_file(aws_sdk_lambda::primitives::Blob::new(zip(body)))
                    .build(),
            ),
        LambdaCode::Image(uri) => create
            .package_type(PackageType::Image)
            .code(FunctionCode::builder().image_uri(uri).build()),
    };
    create.publish(true).send().await.unwrap();
    if let Some(alias) = alias {
        lambda
            .create_alias()
            .function_name(name)
            .name(alias)
            .function_version("1")
            .send()
            .await
            .unwrap();
    }
}

/// An S3 bucket `name` in moto, in `sdk`'s region (a location constraint outside us-east-1, as S3 wants),
/// with versioning turned on when `versioned`.
pub async fn s3_bucket(sdk: &aws_types::SdkConfig, name: &str, versioned: bool) {
    use aws_sdk_s3::types::{
        BucketLocationConstraint, BucketVersioningStatus, CreateBucketConfiguration,
        VersioningConfiguration,
    };
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(sdk)
            .force_path_style(true)
            .build(),
    );
    let create = s3.create_bucket().bucket(name);
    let create = match sdk.region().map(|r| r.as_ref()) {
        None | Some("us-east-1") => create,
        Some(region) => create.create_bucket_configuration(
            CreateBucketConfiguration::builder()
                .location_constraint(BucketLocationConstraint::from(region))
                .build(),
        ),
    };
    create.send().await.unwrap();
    if versioned {
        s3.put_bucket_versioning()
            .bucket(name)
            .versioning_configuration(
                VersioningConfiguration::builder()
                    .status(BucketVersioningStatus::Enabled)
                    .build(),
            )
            .send()
            .await
            .unwrap();
    }
}

/// The version alias `alias` of `function` points at (its primary version); `None` when there is no
/// such alias.
pub async fn alias_version(
    lambda: &aws_sdk_lambda::Client,
    function: &str,
    alias: &str,
) -> Option<String> {
    lambda
        .get_alias()
        .function_name(function)
        .name(alias)
        .send()
        .await
        .ok()
        .and_then(|a| a.function_version().map(str::to_owned))
}

/// What [`lambda_function`] publishes as version 1.
pub enum LambdaCode<'a> {
    /// `app.py` with this body, handler `app.handler`, Python 3.12.
    Python(&'a str),
    /// A container image URI.
    Image(&'a str),
}

#[cfg(test)]
mod tests {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};
    use std::time::{Duration, Instant};

    /// Set in the child test process of [`moto_stops_when_its_test_process_is_killed`].
    const CHILD: &str = "STEVEDORE_TEST_MOTO_CHILD";

    fn port_of(endpoint: &str) -> u16 {
        endpoint.rsplit(':').next().unwrap().parse().unwrap()
    }

    /// Whether something still accepts connections on `port`, for up to `within`.
    fn closes_within(port: u16, within: Duration) -> bool {
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        false
    }

    /// Run only by [`moto_stops_when_its_test_process_is_killed`] (in a child test process): starts the
    /// shared server, says where, and waits to be killed.
    #[test]
    #[ignore = "the child half of moto_stops_when_its_test_process_is_killed"]
    fn child_holds_the_shared_moto_until_killed() {
        if std::env::var_os(CHILD).is_none() {
            return;
        }
        match super::MOTO.get_or_init(super::start) {
            Some(m) => println!("moto-endpoint={}", m.endpoint),
            None => println!("moto-endpoint=none"),
        }
        std::thread::sleep(Duration::from_secs(120));
    }

    /// The shared server (in a `static`, never dropped) stops when its test process is killed with
    /// SIGKILL, where no destructor and no exit handler runs; and a server of a test's own stops when
    /// dropped.
    #[test]
    fn moto_stops_when_its_test_process_is_killed() {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args([
                "helpers::moto::tests::child_holds_the_shared_moto_until_killed",
                "--exact",
                "--ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD, "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut endpoint = None;
        for line in BufReader::new(child.stdout.take().unwrap()).lines() {
            // libtest prints `test <name> ... ` on the same line first.
            if let Some((_, e)) = line.unwrap().split_once("moto-endpoint=") {
                endpoint = Some(e.trim().to_owned());
                break;
            }
        }
        let endpoint = endpoint.expect("the child test process names its moto server");
        if endpoint == "none" {
            child.kill().unwrap();
            child.wait().unwrap();
            // moto is not installed: skip (or fail under CI=true).
            let skipped: Option<()> =
                super::super::require("moto_server (pip install 'moto[server]')", None);
            assert!(skipped.is_none());
            return;
        }
        let port = port_of(&endpoint);
        assert!(
            std::net::TcpStream::connect(("127.0.0.1", port)).is_ok(),
            "{endpoint} is not serving while its test process runs"
        );
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        assert!(
            closes_within(port, Duration::from_secs(10)),
            "moto on {endpoint} still serves 10 s after its test process was killed"
        );

        let own = super::own().unwrap();
        let port = port_of(&own.endpoint);
        drop(own);
        assert!(
            closes_within(port, Duration::from_secs(10)),
            "a test's own moto still serves 10 s after it was dropped"
        );
    }
}
