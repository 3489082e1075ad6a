//! Build mode: reproducible bundles, S3 upload against moto, an image built through podman's Docker API and
//! pushed to a real registry on loopback with ECR authorization from moto.

use crate::helpers::{has, lacks};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::Credentials;
use aws_credential_types::provider::SharedCredentialsProvider;
use stevedore::Env;
use stevedore::aws::ecr::PutImage;
use stevedore::cancel::Cancel;
use stevedore::config::{Config, ModeConfig};
use stevedore::context::Context;
use stevedore::modes::Runtime;
use stevedore::modes::build::{self, Target, bundle, ecr};
use stevedore::report::{Commands, Masker, Report, Verdict};

use crate::helpers::engine::{Podman, Registry};
use crate::helpers::moto::{ecr as moto_ecr, moto, unique};

const SHA: &str = "0123456789abcdef0123456789abcdef01234567";

/// The pieces a mode runs with, owned by the test.
struct Harness {
    env: Env,
    ctx: Context,
    cmds: Commands,
    out: Arc<Mutex<Vec<u8>>>,
    config: Config,
    _dir: tempfile::TempDir,
    workspace: std::path::PathBuf,
}

impl Harness {
    /// A build step on `refs/heads/main` in a fresh workspace, with `inputs` and extra `vars`.
    fn new(inputs: &[(&str, &str)], vars: &[(&str, &str)], workspace: Option<&Path>) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let workspace = workspace.map_or_else(|| dir.path().join("ws"), Path::to_owned);
        std::fs::create_dir_all(&workspace).unwrap();
        let mut env = Env::from_pairs([
            ("GITHUB_ACTIONS", "true"),
            ("GITHUB_REPOSITORY", "octo-org/octo-repo"),
            ("GITHUB_SHA", SHA),
            ("GITHUB_REF", "refs/heads/main"),
            ("GITHUB_REF_NAME", "main"),
            ("GITHUB_REF_TYPE", "branch"),
            ("GITHUB_RUN_ID", "4242"),
            ("GITHUB_SERVER_URL", "https://github.com"),
            ("INPUT_MODE", "build"),
        ]);
        env.set("GITHUB_WORKSPACE", workspace.display().to_string());
        env.set("RUNNER_TEMP", dir.path().join("tmp").display().to_string());
        for (k, v) in inputs {
            env.set(format!("INPUT_{}", k.to_uppercase()), *v);
        }
        for (k, v) in vars {
            env.set(*k, *v);
        }
        let config = Config::from_env(&env).unwrap_or_else(|e| panic!("{e}"));
        let ctx = Context::from_parts(&env, serde_json::Value::Null);
        let (cmds, out) = Commands::buffer(Masker::default(), true);
        Self {
            env,
            ctx,
            cmds,
            out,
            config,
            _dir: dir,
            workspace,
        }
    }

    fn rt(&self) -> Runtime<'_> {
        Runtime {
            env: &self.env,
            ctx: &self.ctx,
            cmds: &self.cmds,
            common: &self.config.common,
            cancel: Cancel::never(),
        }
    }

    fn build_config(&self) -> &build::Config {
        match &self.config.mode {
            ModeConfig::Build(c) => c,
            _ => panic!("not a build config"),
        }
    }

    fn stdout(&self) -> String {
        String::from_utf8(self.out.lock().unwrap().clone()).unwrap()
    }
}

fn output<'a>(r: &'a Report, name: &str) -> &'a str {
    r.outputs
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
        .unwrap_or_else(|| panic!("no output {name} in {:?}", r.outputs))
}

async fn sdk(endpoint: &str) -> SdkConfig {
    stevedore::net::crypto::install();
    aws_config::defaults(BehaviorVersion::latest())
        .http_client(stevedore::aws::http_client(&stevedore::Env::default()))
        .region(Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
            "testing", "testing", None, None, "test",
        )))
        .load()
        .await
}

fn write_tree(root: &Path, reversed: bool) {
    let mut files = vec![
        (
            "handler.py",
            "def handler(event, context):\n    return {'ok': True}\n",
        ),
        ("lib/util.py", "X = 1\n"),
        ("lib/data/table.json", "{\"rows\": [1, 2, 3]}\n"),
        ("requirements.txt", "boto3\n"),
    ];
    if reversed {
        files.reverse();
    }
    for (name, body) in files {
        let p = root.join(name);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, body).unwrap();
    }
}

fn set_mtimes(root: &Path, t: SystemTime) {
    for e in walk(root) {
        std::fs::File::options()
            .write(true)
            .open(&e)
            .unwrap()
            .set_modified(t)
            .unwrap();
    }
}

fn walk(root: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(root).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

#[test]
fn the_same_directory_zipped_twice_gives_the_same_hash() {
    let d = tempfile::tempdir().unwrap();
    let a = d.path().join("a");
    let b = d.path().join("elsewhere/b");
    write_tree(&a, false);
    // Same content written in another order, at another path, with other timestamps.
    write_tree(&b, true);
    set_mtimes(
        &a,
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_600_000_000),
    );
    set_mtimes(
        &b,
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000),
    );
    let first = bundle::zip_dir(&a, &d.path().join("1.zip")).unwrap();
    let second = bundle::zip_dir(&a, &d.path().join("2.zip")).unwrap();
    let other = bundle::zip_dir(&b, &d.path().join("3.zip")).unwrap();
    assert_eq!(first.sha256_hex, second.sha256_hex);
    assert_eq!(first.sha256_hex, other.sha256_hex);
    assert_eq!(first.code_sha256, other.code_sha256);
    assert_eq!(
        std::fs::read(&first.path).unwrap(),
        std::fs::read(&other.path).unwrap()
    );
    // A change in content changes the hash.
    std::fs::write(b.join("lib/util.py"), "X = 2\n").unwrap();
    let changed = bundle::zip_dir(&b, &d.path().join("4.zip")).unwrap();
    assert_ne!(changed.sha256_hex, first.sha256_hex);
}

#[tokio::test]
async fn a_bundle_is_uploaded_with_metadata_and_an_unchanged_one_is_skipped() {
    let Some(m) = moto() else { return };
    let sdk = sdk(&m.endpoint).await;
    let s3 = s3_sdk(&sdk);
    let bucket = unique("artifacts");
    crate::helpers::moto::s3_bucket(&sdk, &bucket, true).await;
    let h = Harness::new(
        &[
            ("bundle-dir", "dist/lambda"),
            ("s3-bucket", &bucket),
            ("s3-prefix", "lambda"),
            ("service-name", "backend"),
            ("version", "1.4.0"),
        ],
        &[],
        None,
    );
    let dir = h.workspace.join("dist/lambda");
    write_tree(&dir, false);
    let Some(Target::Bundle(b)) = &h.build_config().target else {
        panic!("not a bundle")
    };
    let r = build::run_bundle(&h.rt(), h.build_config(), b, Some(&sdk))
        .await
        .unwrap();
    assert_eq!(r.verdict, Verdict::Success);
    assert_eq!(output(&r, "s3-bucket"), bucket);
    assert_eq!(output(&r, "s3-key"), "lambda/backend/1.4.0/lambda.zip");
    assert_eq!(output(&r, "uploaded"), "true");
    let version = output(&r, "s3-version").to_owned();
    assert!(!version.is_empty(), "versioned bucket gives a version id");
    let sha = output(&r, "sha256").to_owned();

    // The object is the zip we hashed, and metadata.json describes it.
    let obj = s3
        .get_object()
        .bucket(&bucket)
        .key("lambda/backend/1.4.0/lambda.zip")
        .send()
        .await
        .unwrap();
    assert_eq!(obj.version_id(), Some(version.as_str()));
    assert_eq!(
        obj.metadata().unwrap().get("sha256").map(String::as_str),
        Some(sha.as_str())
    );
    let body = obj.body.collect().await.unwrap().into_bytes();
    use sha2::Digest as _;
    assert_eq!(hex::encode(sha2::Sha256::digest(&body)), sha);
    let meta = s3
        .get_object()
        .bucket(&bucket)
        .key("lambda/backend/1.4.0/metadata.json")
        .send()
        .await
        .unwrap();
    let meta: serde_json::Value =
        serde_json::from_slice(&meta.body.collect().await.unwrap().into_bytes()).unwrap();
    assert_eq!(meta["version"], "1.4.0");
    assert_eq!(meta["service"], "backend");
    assert_eq!(meta["commit"], SHA);
    assert_eq!(meta["ref"], "refs/heads/main");
    assert_eq!(meta["sha256"], sha.as_str());
    assert_eq!(meta["code_sha256"], output(&r, "code-sha256"));
    assert_eq!(meta["size"], body.len() as u64);
    assert_eq!(
        meta["workflow_run_url"],
        "https://github.com/octo-org/octo-repo/actions/runs/4242"
    );
    assert!(
        meta["build_time"].as_str().unwrap().ends_with('Z'),
        "{meta}"
    );

    // Second run, files touched but unchanged: nothing is uploaded and the same version is reported.
    set_mtimes(&dir, SystemTime::now());
    let again = build::run_bundle(&h.rt(), h.build_config(), b, Some(&sdk))
        .await
        .unwrap();
    assert_eq!(output(&again, "uploaded"), "false");
    assert_eq!(output(&again, "s3-version"), version);
    assert_eq!(output(&again, "sha256"), sha);
    has(&again.summary, "upload skipped");
    let versions = s3
        .list_object_versions()
        .bucket(&bucket)
        .prefix("lambda/backend/1.4.0/lambda.zip")
        .send()
        .await
        .unwrap();
    assert_eq!(versions.versions().len(), 1, "no second object version");

    // Changed content under the same version: uploaded, replacing, with a warning.
    std::fs::write(dir.join("handler.py"), "def handler(e, c):\n    return 2\n").unwrap();
    let changed = build::run_bundle(&h.rt(), h.build_config(), b, Some(&sdk))
        .await
        .unwrap();
    assert_eq!(output(&changed, "uploaded"), "true");
    assert_ne!(output(&changed, "s3-version"), version);
    has(&changed.summary, &sha);
    has(&h.stdout(), "::warning");
}

#[tokio::test]
async fn an_image_is_built_and_pushed_and_the_registry_holds_the_output_digest() {
    let Some(m) = moto() else { return };
    let Some(registry) = Registry::start() else {
        return;
    };
    let Some(podman) = Podman::start(&registry.addr) else {
        return;
    };
    let sdk = sdk(&m.endpoint).await;
    let repo = unique("svc");
    let ws = tempfile::tempdir().unwrap();
    let ctx_dir = ws.path().join("app");
    std::fs::create_dir_all(&ctx_dir).unwrap();
    std::fs::write(ctx_dir.join("hello.txt"), "hello from stevedore\n").unwrap();
    std::fs::write(ctx_dir.join("ignored.log"), "not sent\n").unwrap();
    std::fs::write(ctx_dir.join(".dockerignore"), "*.log\n").unwrap();
    std::fs::write(
        ctx_dir.join("Dockerfile"),
        "FROM scratch AS base\nARG GREETING=none\nLABEL greeting=$GREETING\nCOPY hello.txt /hello.txt\n\nFROM base AS final\nCOPY hello.txt /again.txt\n",
    )
    .unwrap();
    let h = Harness::new(
        &[
            ("ecr-repository", &repo),
            ("create-repository", "true"),
            ("context", "app"),
            ("build-args", "GREETING=hi"),
            ("target", "base"),
            ("tags", "{sha}\n{branch}\nv-{short-sha}"),
            ("registry", &registry.addr),
            ("build-network", "none"),
        ],
        &[("DOCKER_HOST", &podman.docker_host)],
        Some(ws.path()),
    );
    let Some(Target::Image(i)) = &h.build_config().target else {
        panic!("not an image")
    };
    let r = build::run_image(&h.rt(), h.build_config(), i, Some(&sdk))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(r.verdict, Verdict::Success, "{}", r.summary);
    let digest = output(&r, "digest").to_owned();
    assert!(
        digest.starts_with("sha256:") && digest.len() == 71,
        "{digest}"
    );
    assert_eq!(
        output(&r, "image"),
        format!("{}/{repo}@{digest}", registry.addr)
    );
    // Every tag resolves to the digest we reported.
    for tag in [SHA, "main", "v-0123456789ab"] {
        let (got, _, media) = registry.manifest(&repo, tag).await;
        assert_eq!(got, digest, "tag {tag} ({media})");
    }
    // The manifest by digest is there too, and its config carries our labels and the chosen target.
    let (_, manifest, _) = registry.manifest(&repo, &digest).await;
    let manifest: serde_json::Value = serde_json::from_slice(&manifest).unwrap();
    let config_digest = manifest["config"]["digest"].as_str().unwrap();
    let config: serde_json::Value = reqwest::get(format!(
        "http://{}/v2/{repo}/blobs/{config_digest}",
        registry.addr
    ))
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let labels = &config["config"]["Labels"];
    assert_eq!(labels["org.opencontainers.image.revision"], SHA);
    assert_eq!(
        labels["org.opencontainers.image.source"],
        "https://github.com/octo-org/octo-repo"
    );
    assert_eq!(labels["org.opencontainers.image.version"], "0123456789ab");
    assert!(labels["org.opencontainers.image.created"].is_string());
    assert_eq!(labels["greeting"], "hi", "build arg reached the build");
    assert_eq!(
        manifest["layers"].as_array().unwrap().len(),
        1,
        "target `base` has one COPY layer: {manifest}"
    );
    // The repository was created in ECR (moto) as asked.
    let repos = moto_ecr(&sdk)
        .describe_repositories(&[repo.as_str()])
        .await
        .unwrap();
    assert_eq!(repos.len(), 1);
    assert_eq!(repos[0].repository_name.as_deref(), Some(repo.as_str()));
    // The ECR password was masked before use and appears nowhere else.
    let token = moto_ecr(&sdk).get_authorization_token().await.unwrap();
    let token = token[0].authorization_token.as_deref().unwrap();
    use base64::Engine as _;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(token)
        .unwrap();
    let password = String::from_utf8(decoded)
        .unwrap()
        .split_once(':')
        .unwrap()
        .1
        .to_owned();
    let out = h.stdout();
    has(&out, &format!("::add-mask::{password}"));
    assert_eq!(out.matches(&password).count(), 1, "{out}");
    assert!(!r.summary.contains(&password));
}

#[tokio::test]
async fn scan_findings_from_ecr_gate_on_the_threshold() {
    let Some(m) = moto() else { return };
    let sdk = sdk(&m.endpoint).await;
    let client = moto_ecr(&sdk);
    let repo = unique("scanned");
    assert!(ecr::ensure_repository(&client, &repo, true).await.unwrap());
    assert!(!ecr::ensure_repository(&client, &repo, true).await.unwrap());
    let missing = ecr::ensure_repository(&client, &unique("absent"), false)
        .await
        .unwrap_err();
    assert!(
        matches!(&missing, ecr::EcrError::RepositoryMissing(_)),
        "{missing:?}"
    );
    assert!(
        missing.to_string().contains("create-repository"),
        "{missing}"
    );
    // ECR holds the image (as after a push); moto computes the digest from the manifest bytes.
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "size": 2, "digest": format!("sha256:{}", "c".repeat(64))},
        "layers": []
    })
    .to_string();
    let put = client
        .put_image(&PutImage {
            repository_name: repo.clone(),
            image_manifest: manifest,
            image_tag: Some("v1".into()),
            ..PutImage::default()
        })
        .await
        .unwrap();
    let digest = put.image_id.unwrap().image_digest.unwrap();
    // No scan yet (no scan on push here): we start one and read its findings. moto's default result has one
    // HIGH finding (CVE-9999-9999 in package moto_fake).
    let summary = ecr::scan_findings(&client, &repo, &digest, Duration::from_secs(30))
        .await
        .unwrap();
    assert_eq!(summary.counts.get(&ecr::Severity::High), Some(&1));
    assert_eq!(summary.findings.len(), 1);
    assert_eq!(
        summary.findings[0].package.as_deref(),
        Some("moto_fake 9.9.9")
    );
    assert!(!summary.gate(ecr::Severity::High).passed());
    assert!(!summary.gate(ecr::Severity::Medium).passed());
    assert!(summary.gate(ecr::Severity::Critical).passed());
    let md = summary.markdown(20);
    has(&md, "| HIGH | 1 |");
    has(&md, "CVE-9999-9999");
}

/// The whole step as the runner runs it: inputs, GitHub OIDC (fake issuer) -> STS (moto) -> S3 (moto), and
/// the outputs deploy reads, in `GITHUB_OUTPUT`.
#[tokio::test]
async fn a_bundle_step_runs_end_to_end_with_oidc_credentials() {
    use crate::helpers::fake_oidc::{FakeOidc, Settings};
    use crate::helpers::run::Step;
    let Some(m) = moto() else { return };
    let sdk = sdk(&m.endpoint).await;
    let bucket = unique("e2e-artifacts");
    crate::helpers::moto::s3_bucket(&sdk, &bucket, false).await;
    let oidc = FakeOidc::start(Settings::default()).await;
    let step = oidc.apply(Step::new());
    write_tree(&step.workspace.join("dist/lambda"), false);
    let r = step
        .input("mode", "build")
        .input(
            "role-to-assume",
            "arn:aws:iam::123456789012:role/github-build",
        )
        .input("aws-region", "us-east-1")
        .input("bundle-dir", "dist/lambda")
        .input("s3-bucket", &bucket)
        .var("AWS_ENDPOINT_URL", &m.endpoint)
        .exits(0)
        .await;
    assert_eq!(r.output("verdict"), Some("success"));
    assert_eq!(r.output("s3-bucket"), Some(bucket.as_str()));
    // Service defaults to the repository name, version to the short commit.
    assert_eq!(
        r.output("s3-key"),
        Some("octo-repo/0123456789ab/lambda.zip")
    );
    assert_eq!(r.output("uploaded"), Some("true"));
    assert_eq!(r.output("sha256").map(str::len), Some(64));
    has(&r.summary, "bundle uploaded");
    assert_eq!(oidc.token_requests(), 1);
}

/// Benchmark (prints figures, asserts only correctness): zip a 50 MB directory twice.
/// `cargo test --test it build::bench_zip_50_mb -- --ignored --nocapture`
#[test]
#[ignore = "benchmark: run on demand"]
fn bench_zip_50_mb() {
    let d = tempfile::tempdir().unwrap();
    let src = d.path().join("src");
    // 400 files of 128 KiB: half incompressible (xorshift bytes), half source-like text.
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    for i in 0..400 {
        let dir = src.join(format!("pkg{}", i % 20));
        std::fs::create_dir_all(&dir).unwrap();
        let mut body = Vec::with_capacity(128 * 1024);
        if i % 2 == 0 {
            while body.len() < 128 * 1024 {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                body.extend_from_slice(&x.to_le_bytes());
            }
        } else {
            let mut n = 0;
            while body.len() < 128 * 1024 {
                body.extend_from_slice(
                    format!("def handler_{n}(event, context):\n    return {{'n': {n}}}\n")
                        .as_bytes(),
                );
                n += 1;
            }
        }
        std::fs::write(dir.join(format!("f{i}.py")), body).unwrap();
    }
    let mut hashes = Vec::new();
    for run in 0..2 {
        let t = std::time::Instant::now();
        let b = bundle::zip_dir(&src, &d.path().join(format!("{run}.zip"))).unwrap();
        let elapsed = t.elapsed();
        println!(
            "BENCH zip 50 MiB ({} files) -> {} bytes in {:.0} ms (run {run})",
            b.files,
            b.size,
            elapsed.as_secs_f64() * 1000.0
        );
        hashes.push(b.sha256_hex);
    }
    assert_eq!(hashes[0], hashes[1]);
}

/// The image step as the runner runs it: OIDC (fake issuer) -> STS (moto) -> ECR login and repository
/// (moto) -> build through podman's socket -> push to the loopback registry; outputs in `GITHUB_OUTPUT`.
#[tokio::test]
async fn an_image_step_runs_end_to_end_with_oidc_credentials() {
    use crate::helpers::fake_oidc::{FakeOidc, Settings};
    use crate::helpers::run::Step;
    let Some(m) = moto() else { return };
    let Some(registry) = Registry::start() else {
        return;
    };
    let Some(podman) = Podman::start(&registry.addr) else {
        return;
    };
    let repo = unique("e2e-svc");
    let oidc = FakeOidc::start(Settings::default()).await;
    let step = oidc.apply(Step::new());
    std::fs::write(step.workspace.join("static.txt"), "static\n").unwrap();
    std::fs::write(
        step.workspace.join("Dockerfile"),
        "FROM scratch\nCOPY static.txt /static.txt\n",
    )
    .unwrap();
    let r = step
        .input("mode", "build")
        .input(
            "role-to-assume",
            "arn:aws:iam::123456789012:role/github-build",
        )
        .input("aws-region", "us-east-1")
        .input("ecr-repository", &repo)
        .input("create-repository", "true")
        .input("registry", &registry.addr)
        .input("build-network", "none")
        .input("tags", "{version}, latest")
        .input("version", "2.0.0")
        .var("AWS_ENDPOINT_URL", &m.endpoint)
        .var("DOCKER_HOST", &podman.docker_host)
        .exits(0)
        .await;
    let digest = r.output("digest").unwrap();
    let (got, _, _) = registry.manifest(&repo, "2.0.0").await;
    assert_eq!(got, digest);
    let (latest, _, _) = registry.manifest(&repo, "latest").await;
    assert_eq!(latest, digest);
    assert_eq!(
        r.output("image"),
        Some(format!("{}/{repo}@{digest}", registry.addr).as_str())
    );
    assert_eq!(
        r.output("image-tags"),
        Some(format!("{0}/{repo}:2.0.0\n{0}/{repo}:latest", registry.addr).as_str())
    );
    has(&r.summary, "image pushed");
}

/// `dry-run`: the bundle is packaged and hashed, the plan checked and printed, and no request is made: no
/// OIDC token is fetched and no AWS endpoint is configured (any AWS request would fail the step).
/// The dry-run summary of an image build is a table of the plan, not a Rust debug struct (issue 30).
#[tokio::test]
async fn an_image_dry_run_shows_its_plan_as_a_table() {
    let ws = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(ws.path().join("app")).unwrap();
    std::fs::write(ws.path().join("app/Dockerfile"), "FROM scratch\n").unwrap();
    let h = Harness::new(
        &[
            ("ecr-repository", "svc"),
            ("context", "app"),
            ("build-args", "GREETING=hi"),
            ("target", "base"),
            ("tags", "v-{short-sha}"),
            ("dry-run", "true"),
        ],
        &[],
        Some(ws.path()),
    );
    let Some(Target::Image(i)) = &h.build_config().target else {
        panic!("not an image")
    };
    let r = build::run_image(&h.rt(), h.build_config(), i, None)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let s = &r.summary;
    for debug in ["ImagePlan", "PathBuf", "Some(", "[\n", "\","] {
        assert!(!s.contains(debug), "{debug:?} in\n{s}");
    }
    let code = stevedore::report::markdown::code_span;
    has(s, &format!("| image | {} |", code("<ECR registry>/svc")));
    has(
        s,
        &format!("| tags | {} |", code("<ECR registry>/svc:v-0123456789ab")),
    );
    has(s, "| context | `app` |");
    has(s, "| Dockerfile | `app/Dockerfile` |");
    has(s, "| target | `base` |");
    has(s, "| build args | `GREETING=hi` |");
    has(s, "| network | the engine's default |");
}

#[tokio::test]
async fn a_dry_run_packages_and_hashes_but_sends_nothing() {
    use crate::helpers::fake_oidc::{FakeOidc, Settings};
    use crate::helpers::run::Step;
    let oidc = FakeOidc::start(Settings::default()).await;
    let step = oidc.apply(Step::new());
    write_tree(&step.workspace.join("dist"), false);
    let r = step
        .input("mode", "build")
        .input("dry-run", "true")
        .input(
            "role-to-assume",
            "arn:aws:iam::123456789012:role/github-build",
        )
        .input("aws-region", "eu-west-1")
        .input("bundle-dir", "dist")
        .input("s3-bucket", "artifacts")
        .input("version", "3.1.0")
        .exits(0)
        .await;
    // A dry run proves nothing was done: `skipped` in every mode (docs/reporting.md, "Dry runs").
    assert_eq!(r.output("verdict"), Some("skipped"), "{}", r.stdout);
    assert_eq!(r.output("s3-key"), Some("octo-repo/3.1.0/lambda.zip"));
    assert_eq!(r.output("uploaded"), Some("false"));
    assert_eq!(r.output("sha256").map(str::len), Some(64));
    has(&r.summary, "dry run");
    let zip = r.output("zip-file").unwrap();
    assert!(Path::new(zip).exists(), "{zip}");
    assert_eq!(oidc.token_requests(), 0);
}

/// Enhanced scanning (Inspector) results as ECR returns them, scripted through moto's static-results API:
/// `enhancedFindings` with a CRITICAL and UNTRIAGED findings; the gate counts the CRITICAL one only.
#[tokio::test]
async fn enhanced_scan_findings_are_read_and_untriaged_ones_do_not_gate() {
    let Some(m) = moto() else { return };
    let sdk = sdk(&m.endpoint).await;
    let client = moto_ecr(&sdk);
    let repo = unique("enhanced");
    ecr::ensure_repository(&client, &repo, true).await.unwrap();
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "size": 2, "digest": format!("sha256:{}", "d".repeat(64))},
        "layers": []
    })
    .to_string();
    let put = client
        .put_image(&PutImage {
            repository_name: repo.clone(),
            image_manifest: manifest,
            image_tag: Some("v1".into()),
            ..PutImage::default()
        })
        .await
        .unwrap();
    let digest = put.image_id.unwrap().image_digest.unwrap();
    let finding = |id: &str, sev: &str| {
        serde_json::json!({
            "awsAccountId": "123456789012",
            "findingArn": format!("arn:aws:inspector2:us-east-1:123456789012:finding/{id}"),
            "severity": sev,
            "status": "ACTIVE",
            "title": format!("{id} - openssl"),
            "type": "PACKAGE_VULNERABILITY",
            "packageVulnerabilityDetails": {
                "vulnerabilityId": id,
                "sourceUrl": format!("https://nvd.nist.gov/vuln/detail/{id}"),
                "source": "NVD"
            }
        })
    };
    let results = serde_json::json!({
        "region": "us-east-1",
        "results": [{
            "registryId": "123456789012",
            "repositoryName": repo,
            "imageId": {"imageDigest": digest},
            "imageScanStatus": {"status": "COMPLETE", "description": "The scan was completed successfully."},
            "imageScanFindings": {
                "enhancedFindings": [
                    finding("CVE-2026-0001", "CRITICAL"),
                    finding("CVE-2026-0002", "UNTRIAGED"),
                    finding("CVE-2026-0003", "UNTRIAGED")
                ],
                "findingSeverityCounts": {"CRITICAL": 1, "UNTRIAGED": 2}
            }
        }]
    })
    .to_string();
    let port: u16 = m.endpoint.rsplit(':').next().unwrap().parse().unwrap();
    let answer = crate::helpers::moto::post_json(
        port,
        "/moto-api/static/ecr/scan-finding-results",
        &results,
    );
    assert!(answer.starts_with("HTTP/1.1 201"), "{answer}");
    let summary = ecr::scan_findings(&client, &repo, &digest, Duration::from_secs(30))
        .await
        .unwrap();
    assert_eq!(summary.counts.get(&ecr::Severity::Critical), Some(&1));
    assert_eq!(summary.counts.get(&ecr::Severity::Unknown), Some(&2));
    assert_eq!(summary.findings.len(), 3);
    let critical = summary
        .findings
        .iter()
        .find(|f| f.severity == ecr::Severity::Critical)
        .unwrap();
    assert_eq!(critical.name, "CVE-2026-0001");
    assert_eq!(
        critical.uri.as_deref(),
        Some("https://nvd.nist.gov/vuln/detail/CVE-2026-0001")
    );
    assert_eq!(summary.gate(ecr::Severity::Critical).blocking, 1);
    assert_eq!(summary.gate(ecr::Severity::Informational).blocking, 1);
}

/// A bundle step through the whole binary path (OIDC -> STS -> S3 on moto) over a tree `prepare` shapes;
/// returns the result, the bucket and the number of OIDC token requests.
async fn bundle_step(
    prepare: impl FnOnce(&Path, &Path),
) -> Option<(crate::helpers::run::StepResult, Vec<String>, usize)> {
    use crate::helpers::fake_oidc::{FakeOidc, Settings};
    use crate::helpers::run::Step;
    let m = moto()?;
    let sdk = sdk(&m.endpoint).await;
    let s3 = s3_sdk(&sdk);
    let bucket = unique("links");
    crate::helpers::moto::s3_bucket(&sdk, &bucket, false).await;
    let oidc = FakeOidc::start(Settings::default()).await;
    let step = oidc.apply(Step::new());
    write_tree(&step.workspace.join("fn"), false);
    prepare(&step.workspace, step.dir.path());
    let r = step
        .input("mode", "build")
        .input(
            "role-to-assume",
            "arn:aws:iam::123456789012:role/github-build",
        )
        .input("aws-region", "us-east-1")
        .input("bundle-dir", "fn")
        .input("s3-bucket", &bucket)
        .input("version", "1.0.0")
        .var("AWS_ENDPOINT_URL", &m.endpoint)
        .run()
        .await;
    let listed = s3.list_objects_v2().bucket(&bucket).send().await.unwrap();
    let keys = listed
        .contents()
        .iter()
        .filter_map(|o| o.key().map(str::to_owned))
        .collect();
    Some((r, keys, oidc.token_requests()))
}

/// Asserts a refusal: exit 2, an `::error` naming `path` and `why`, no credentials requested, nothing in
/// the bucket.
fn assert_refused(
    got: Option<(crate::helpers::run::StepResult, Vec<String>, usize)>,
    path: &str,
    why: &str,
) {
    let Some((r, keys, token_requests)) = got else {
        return;
    };
    assert_eq!(r.code, 2, "{}", r.stdout);
    let error = r
        .stdout
        .lines()
        .find(|l| l.starts_with("::error"))
        .unwrap_or_else(|| panic!("no ::error in {}", r.stdout));
    has(error, path);
    has(error, why);
    has(error, "nothing was zipped or uploaded");
    assert!(keys.is_empty(), "uploaded: {keys:?}");
    assert_eq!(token_requests, 0, "refused before any credentials");
    lacks(&r.stdout, "ACTIONS_ID_TOKEN_REQUEST_TOKEN=");
}

#[cfg(unix)]
#[tokio::test]
async fn a_bundle_link_to_proc_self_environ_is_refused_and_nothing_is_uploaded() {
    let got = bundle_step(|ws, _| {
        std::os::unix::fs::symlink("/proc/self/environ", ws.join("fn/env.txt")).unwrap();
    })
    .await;
    assert_refused(
        got,
        "fn/env.txt",
        "symbolic link to the absolute path `/proc/self/environ`",
    );
}

#[cfg(unix)]
#[tokio::test]
async fn a_bundle_link_to_a_file_outside_the_tree_is_refused() {
    let got = bundle_step(|ws, _| {
        std::fs::write(ws.join("outside.txt"), "github-token: ghs_secret\n").unwrap();
        std::os::unix::fs::symlink("../outside.txt", ws.join("fn/innocent.txt")).unwrap();
    })
    .await;
    assert_refused(
        got,
        "fn/innocent.txt",
        "symbolic link to `../outside.txt`, which leaves the tree",
    );
}

#[cfg(unix)]
#[tokio::test]
async fn a_bundle_link_to_a_directory_outside_is_refused_with_every_offender_named() {
    let got = bundle_step(|ws, tmp| {
        let home = tmp.join("home/.ssh");
        std::fs::create_dir_all(&home).unwrap();
        std::fs::write(home.join("id_ed25519"), "PRIVATE KEY").unwrap();
        std::os::unix::fs::symlink(&home, ws.join("fn/lib/keys")).unwrap();
        std::os::unix::fs::symlink("../../..", ws.join("fn/lib/data/up")).unwrap();
    })
    .await;
    assert_refused(
        got.map(|(r, k, t)| {
            has(&r.stdout, "fn/lib/data/up`");
            has(&r.stdout, "which leaves the tree");
            (r, k, t)
        }),
        "fn/lib/keys",
        "absolute path",
    );
}

#[cfg(unix)]
#[tokio::test]
async fn a_fifo_in_a_bundle_is_refused() {
    let got = bundle_step(|ws, _| {
        let fifo = ws.join("fn/pipe");
        let status = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(status.success());
    })
    .await;
    assert_refused(got, "fn/pipe", "is a FIFO (named pipe)");
}

/// A relative link inside the tree is stored as a zip symlink entry (mode 0o120777, target as content,
/// as `zip -y` does), for files and directories; the zip is uploaded.
#[cfg(unix)]
#[tokio::test]
async fn links_inside_a_bundle_are_stored_as_zip_symlinks_and_uploaded() {
    let Some((r, keys, _)) = bundle_step(|ws, _| {
        std::os::unix::fs::symlink("lib/util.py", ws.join("fn/util.py")).unwrap();
        std::os::unix::fs::symlink("../requirements.txt", ws.join("fn/lib/req.txt")).unwrap();
        std::os::unix::fs::symlink("lib/data", ws.join("fn/data")).unwrap();
    })
    .await
    else {
        return;
    };
    assert_eq!(r.code, 0, "{}", r.stdout);
    assert_eq!(
        keys,
        [
            "octo-repo/1.0.0/lambda.zip",
            "octo-repo/1.0.0/metadata.json"
        ]
    );
    let zip = r.output("zip-file").unwrap();
    let mut z = zip::ZipArchive::new(std::fs::File::open(zip).unwrap()).unwrap();
    let mut entries = Vec::new();
    for i in 0..z.len() {
        let mut f = z.by_index(i).unwrap();
        let mut body = String::new();
        std::io::Read::read_to_string(&mut f, &mut body).unwrap();
        entries.push((f.name().unwrap().into_owned(), f.unix_mode().unwrap(), body));
    }
    let link = |name: &str, target: &str| (name.to_owned(), 0o120_777, target.to_owned());
    let file = |name: &str, body: &str| (name.to_owned(), 0o100_644, body.to_owned());
    assert_eq!(
        entries,
        [
            link("data", "lib/data"),
            file(
                "handler.py",
                "def handler(event, context):\n    return {'ok': True}\n"
            ),
            file("lib/data/table.json", "{\"rows\": [1, 2, 3]}\n"),
            link("lib/req.txt", "../requirements.txt"),
            file("lib/util.py", "X = 1\n"),
            file("requirements.txt", "boto3\n"),
            link("util.py", "lib/util.py"),
        ]
    );
}

/// The image context follows the same rule: a link out of the context and a FIFO are refused (exit 2)
/// before any credentials are requested or the engine is contacted; excluded entries are not judged.
#[cfg(unix)]
#[tokio::test]
async fn an_image_context_with_a_link_out_or_a_fifo_is_refused_before_any_call() {
    use crate::helpers::fake_oidc::{FakeOidc, Settings};
    use crate::helpers::run::Step;
    let oidc = FakeOidc::start(Settings::default()).await;
    let step = oidc.apply(Step::new());
    let ws = step.workspace.clone();
    std::fs::create_dir_all(ws.join("app/ignored")).unwrap();
    std::fs::write(ws.join("app/Dockerfile"), "FROM scratch\nCOPY . /\n").unwrap();
    std::fs::write(ws.join("app/.dockerignore"), "ignored\n").unwrap();
    std::os::unix::fs::symlink("/proc/self/environ", ws.join("app/env.txt")).unwrap();
    std::os::unix::fs::symlink("/etc/passwd", ws.join("app/ignored/passwd")).unwrap();
    std::os::unix::fs::symlink("Dockerfile", ws.join("app/Containerfile")).unwrap();
    let status = std::process::Command::new("mkfifo")
        .arg(ws.join("app/pipe"))
        .status()
        .unwrap();
    assert!(status.success());
    let r = step
        .input("mode", "build")
        .input(
            "role-to-assume",
            "arn:aws:iam::123456789012:role/github-build",
        )
        .input("aws-region", "us-east-1")
        .input("ecr-repository", "svc")
        .input("context", "app")
        // Nothing listens here: any engine call would fail differently.
        .var("DOCKER_HOST", "unix:///nonexistent/docker.sock")
        .exits(2)
        .await;
    let error = r
        .stdout
        .lines()
        .find(|l| l.starts_with("::error"))
        .unwrap_or_else(|| panic!("no ::error in {}", r.stdout));
    has(error, "nothing was built or pushed");
    has(
        error,
        "app/env.txt` is a symbolic link to the absolute path `/proc/self/environ`",
    );
    has(error, "app/pipe` is a FIFO");
    assert!(
        !error.contains("passwd"),
        "excluded entries are not judged: {error}"
    );
    assert!(
        !error.contains("Containerfile"),
        "inside links are fine: {error}"
    );
    assert_eq!(oidc.token_requests(), 0);
}

/// The build tests' engines share nothing with each other or with the machine's podman store: two tests
/// building the same context (every `FROM scratch` + `COPY static.txt` test does) used to get the same
/// cached image in the machine's store, and one test's cleanup removing it while the other's build
/// committed it failed that build (`layer not known`) or its push (issue 16: the container pipeline test
/// failing while another podman workload ran). Now each engine has its own store, and dropping it removes
/// everything it built.
#[test]
fn build_engines_have_private_stores_that_another_engine_cannot_touch() {
    let Some(a) = Podman::start("127.0.0.1:1") else {
        return;
    };
    let Some(b) = Podman::start("127.0.0.1:1") else {
        return;
    };
    let ctx = tempfile::tempdir().unwrap();
    std::fs::write(ctx.path().join("static.txt"), "static\n").unwrap();
    std::fs::write(
        ctx.path().join("Dockerfile"),
        "FROM scratch\nCOPY static.txt /static.txt\n",
    )
    .unwrap();
    let name = format!("127.0.0.1:1/isolation-{}:x", std::process::id());
    let build = |p: &Podman| {
        crate::helpers::ok_output(
            p.cli()
                .args(["build", "--quiet", "--tag", &name])
                .arg(ctx.path()),
        );
    };
    let exists = |c: &mut std::process::Command| {
        c.args(["image", "exists", &name])
            .status()
            .unwrap()
            .success()
    };
    build(&a);
    build(&b);
    // The machine's store never sees them.
    assert!(!exists(&mut crate::helpers::runner::podman()));
    // Removing A's image (what A's test does at the end) leaves B's in place.
    let rmi = a.cli().args(["rmi", "--force", &name]).output().unwrap();
    assert!(rmi.status.success());
    assert!(!exists(&mut a.cli()));
    assert!(exists(&mut b.cli()), "B's image went with A's");
    // Dropping an engine removes its store.
    let store = b.store().to_path_buf();
    drop(b);
    assert!(!store.exists(), "{} is left behind", store.display());
    drop(a);
}

/// The SDK's S3 client on `sdk` (path-style, as moto needs): it sets buckets up and reads back what
/// stevedore's own client (`src/aws/s3.rs`) wrote.
fn s3_sdk(sdk: &aws_config::SdkConfig) -> aws_sdk_s3::Client {
    aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(sdk)
            .force_path_style(true)
            .build(),
    )
}
