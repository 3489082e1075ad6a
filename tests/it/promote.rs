//! Promotion's lower layers against real parts: image copy by digest between loopback `docker-registry`s
//! ([`stevedore::registry`]), with a counting front ([`RegistryFront`]) to show what went over the wire.

use secrecy::ExposeSecret as _;
use serde_json::json;
use stevedore::net::Net;
use stevedore::registry::{
    self, Copied, Credentials, Digest, OCI_INDEX, OCI_MANIFEST, Registry, RegistryError, Source,
    Target,
};

use crate::helpers::engine;
use crate::helpers::registry_front::RegistryFront;

/// `n` pseudo-random, incompressible bytes (xorshift from `seed`).
pub fn noise(seed: u64, n: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut out = Vec::with_capacity(n + 8);
    while out.len() < n {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(n);
    out
}

/// Pushes `bytes` as a blob of `repo` at `addr` (monolithic upload); its descriptor.
pub async fn push_blob(addr: &str, repo: &str, bytes: Vec<u8>) -> serde_json::Value {
    let c = crate::helpers::reqwest_client();
    let digest = Digest::of(&bytes);
    let size = bytes.len();
    let r = c
        .post(format!("http://{addr}/v2/{repo}/blobs/uploads/"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 202);
    let loc = r.headers()["location"].to_str().unwrap().to_owned();
    let mut url = url::Url::parse(&format!("http://{addr}"))
        .unwrap()
        .join(&loc)
        .unwrap();
    url.query_pairs_mut().append_pair("digest", digest.as_str());
    let r = c
        .put(url)
        .header("content-type", "application/octet-stream")
        .body(bytes)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 201, "{}", r.text().await.unwrap());
    json!({"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": digest.as_str(), "size": size})
}

/// Pushes manifest `body` as `reference`; its descriptor.
pub async fn push_manifest(
    addr: &str,
    repo: &str,
    reference: Option<&str>,
    media: &str,
    body: &serde_json::Value,
) -> serde_json::Value {
    let bytes = serde_json::to_vec(body).unwrap();
    let digest = Digest::of(&bytes);
    let r = crate::helpers::reqwest_client()
        .put(format!(
            "http://{addr}/v2/{repo}/manifests/{}",
            reference.unwrap_or(digest.as_str())
        ))
        .header("content-type", media)
        .body(bytes.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 201, "{}", r.text().await.unwrap());
    json!({"mediaType": media, "digest": digest.as_str(), "size": bytes.len()})
}

/// A two-architecture index in `repo` at `addr`: amd64 and arm64 images that share their first layer,
/// each with a layer of its own of `layer` bytes. The index's digest, and the number of distinct blobs
/// (5: two configs, the shared layer, two own layers).
pub async fn multi_arch(addr: &str, repo: &str, seed: u64, layer: usize) -> (Digest, usize) {
    let layer = |seed: u64| {
        let bytes = noise(seed, layer);
        let id = Digest::of(&bytes).to_string();
        (bytes, id)
    };
    let index = push_two_arch(addr, repo, layer(seed), [layer(seed + 1), layer(seed + 2)]).await;
    (index, 5)
}

/// Pushes an index of linux/amd64 and linux/arm64 as `repo:source`: each image is the `shared` layer and
/// its `own` one (blob, diff id). The index's digest.
async fn push_two_arch(
    addr: &str,
    repo: &str,
    shared: (Vec<u8>, String),
    own: [(Vec<u8>, String); 2],
) -> Digest {
    let (shared, shared_id) = shared;
    let shared = push_blob(addr, repo, shared).await;
    let mut children = Vec::new();
    for (arch, (own, own_id)) in ["amd64", "arm64"].into_iter().zip(own) {
        let own = push_blob(addr, repo, own).await;
        let config = json!({"architecture": arch, "os": "linux", "config": {},
            "rootfs": {"type": "layers", "diff_ids": [shared_id, own_id]}});
        let mut config = push_blob(addr, repo, serde_json::to_vec(&config).unwrap()).await;
        config["mediaType"] = json!("application/vnd.oci.image.config.v1+json");
        let manifest = json!({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": config,
            "layers": [shared, own]});
        let mut d = push_manifest(addr, repo, None, OCI_MANIFEST, &manifest).await;
        d["platform"] = json!({"architecture": arch, "os": "linux"});
        children.push(d);
    }
    let index = json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": children});
    let d = push_manifest(addr, repo, Some("source"), OCI_INDEX, &index).await;
    Digest::parse(d["digest"].as_str().unwrap()).unwrap()
}

/// The child manifests of index `reference` in `repo` of `registry`, and the blobs they name.
async fn parts_of(
    registry: &engine::Registry,
    repo: &str,
    reference: &str,
) -> (Vec<String>, Vec<String>) {
    let index: serde_json::Value =
        serde_json::from_slice(&registry.manifest(repo, reference).await.1).unwrap();
    let (mut children, mut blobs) = (Vec::new(), Vec::new());
    for child in index["manifests"].as_array().unwrap() {
        let d = child["digest"].as_str().unwrap().to_owned();
        let m: serde_json::Value =
            serde_json::from_slice(&registry.manifest(repo, &d).await.1).unwrap();
        for blob in std::iter::once(&m["config"]).chain(m["layers"].as_array().unwrap()) {
            blobs.push(blob["digest"].as_str().unwrap().to_owned());
        }
        children.push(d);
    }
    (children, blobs)
}

fn client(net: &Net, url: &str) -> Registry {
    Registry::new(net, url, Credentials::Anonymous).unwrap()
}

/// The status of `GET /v2/<repo>/<what>` at `addr`, directly (not through stevedore's client).
async fn status(addr: &str, path: &str) -> u16 {
    crate::helpers::reqwest_client()
        .get(format!("http://{addr}/v2/{path}"))
        .header(
            "accept",
            "application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json",
        )
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// Two loopback registries: `a` holds a two-architecture index in `team/app`, and a counting front sits
/// before one of them.
struct Pair {
    a: engine::Registry,
    b: engine::Registry,
    index: Digest,
    blobs: usize,
    front: RegistryFront,
    front_on_source: bool,
}

impl Pair {
    async fn start(seed: u64, layer: usize, front_on_source: bool) -> Option<Pair> {
        let (Some(a), Some(b)) = (engine::Registry::start(), engine::Registry::start()) else {
            return None;
        };
        let (index, blobs) = multi_arch(&a.addr, "team/app", seed, layer).await;
        let front = RegistryFront::start(if front_on_source { &a.addr } else { &b.addr }).await;
        Some(Pair {
            a,
            b,
            index,
            blobs,
            front,
            front_on_source,
        })
    }

    /// Copies the index to `prod/app:v1` of `b` over `net`, through the front.
    async fn copy(&self, net: &Net) -> Result<Copied, RegistryError> {
        let (a, b) = (
            format!("http://{}", self.a.addr),
            format!("http://{}", self.b.addr),
        );
        let (src, dst) = if self.front_on_source {
            (self.front.url.clone(), b)
        } else {
            (a, self.front.url.clone())
        };
        copy_to(
            &client(net, &src),
            "team/app",
            &self.index,
            &client(net, &dst),
            "prod/app",
            Some("v1"),
        )
        .await
    }
}

async fn copy_to(
    src: &Registry,
    src_repo: &str,
    digest: &Digest,
    dst: &Registry,
    dst_repo: &str,
    tag: Option<&str>,
) -> Result<Copied, RegistryError> {
    registry::copy(
        &Source {
            registry: src,
            repository: src_repo,
            digest,
        },
        &Target {
            registry: dst,
            repository: dst_repo,
            tag,
        },
    )
    .await
}

#[tokio::test]
async fn promote_copies_a_multi_arch_index_whole_across_two_registries_and_uploads_nothing_twice() {
    let Some(p) = Pair::start(1, 64 * 1024, false).await else {
        return;
    };
    let (a, b, index, front) = (&p.a, &p.b, &p.index, &p.front);
    let blobs = p.blobs;
    let copied = p.copy(&Net::builtin()).await.unwrap();
    assert_eq!(copied.digest.as_ref(), Some(index));
    assert_eq!(copied.manifests, 3, "{copied:?}");
    assert_eq!(copied.blobs_uploaded, blobs, "{copied:?}");
    assert_eq!((copied.blobs_mounted, copied.blobs_present), (0, 0));
    // The shared layer went once: one PATCH per distinct blob.
    assert_eq!(front.count("PATCH upload"), blobs, "{:?}", front.counts());
    // The target's tag names the source's digest, and its children are there by digest.
    let (digest, bytes, _) = b.manifest("prod/app", "v1").await;
    assert_eq!(digest, index.as_str());
    let (src_digest, src_bytes, _) = a.manifest("team/app", "source").await;
    assert_eq!((digest, bytes), (src_digest, src_bytes));
    let (children, blob_digests) = parts_of(a, "team/app", "source").await;
    for d in &children {
        assert_eq!(b.manifest("prod/app", d).await.0, *d);
    }
    for d in &blob_digests {
        assert_eq!(status(&b.addr, &format!("prod/app/blobs/{d}")).await, 200);
    }
    // A second copy finds everything: no blob uploaded, nothing downloaded.
    let before = front.count("PATCH upload");
    let again = p.copy(&Net::builtin()).await.unwrap();
    assert_eq!(
        (again.blobs_present, again.blobs_uploaded),
        (blobs, 0),
        "{again:?}"
    );
    assert_eq!(front.count("PATCH upload"), before);
    assert_eq!(
        front.count("POST upload"),
        blobs,
        "no upload opened the second time"
    );
}

#[tokio::test]
async fn promote_within_one_registry_mounts_every_blob_instead_of_moving_it() {
    let Some(r) = engine::Registry::start() else {
        return;
    };
    let (index, blobs) = multi_arch(&r.addr, "dev/app", 2, 32 * 1024).await;
    let front = RegistryFront::start(&r.addr).await;
    let net = Net::builtin();
    let reg = client(&net, &front.url);
    let copied = copy_to(&reg, "dev/app", &index, &reg, "prod/app", Some("v1"))
        .await
        .unwrap();
    assert_eq!(copied.blobs_mounted, blobs, "{copied:?}");
    assert_eq!(copied.blobs_uploaded, 0);
    assert_eq!(front.count("PATCH upload"), 0, "{:?}", front.counts());
    assert_eq!(front.count("GET blob"), 0, "{:?}", front.counts());
    assert_eq!(front.count("POST upload"), blobs);
    assert_eq!(r.manifest("prod/app", "v1").await.0, index.as_str());
}

#[tokio::test]
async fn promote_tries_a_request_again_when_the_registry_answers_503() {
    let Some(p) = Pair::start(7, 1024, false).await else {
        return;
    };
    let (b, index, front) = (&p.b, &p.index, &p.front);
    front.fail_next(2);
    let copied = p.copy(&Net::builtin()).await.unwrap();
    assert_eq!(copied.digest.as_ref(), Some(index));
    assert_eq!(front.count("503"), 2);
    assert_eq!(b.manifest("prod/app", "v1").await.0, index.as_str());
}

#[tokio::test]
async fn promote_refuses_a_manifest_whose_bytes_do_not_hash_to_its_digest() {
    let Some(p) = Pair::start(3, 1024, true).await else {
        return;
    };
    let (b, index, front) = (&p.b, &p.index, &p.front);
    front.tamper_manifests();
    let e = p.copy(&Net::builtin()).await.unwrap_err();
    assert!(matches!(e, RegistryError::Untrusted { .. }), "{e:?}");
    let text = e.to_string();
    assert!(text.contains("not to the digest asked for"), "{text}");
    assert!(text.contains(index.as_str()), "{text}");
    // Nothing reached the target.
    assert_eq!(status(&b.addr, "prod/app/tags/list").await, 404);
}

#[tokio::test]
async fn promote_refuses_a_blob_whose_bytes_are_not_its_digest_and_the_target_never_commits_it() {
    let Some(p) = Pair::start(6, 8 * 1024, true).await else {
        return;
    };
    let (a, b, front) = (&p.a, &p.b, &p.front);
    front.tamper_blobs();
    let e = p.copy(&Net::builtin()).await.unwrap_err();
    assert!(matches!(e, RegistryError::Untrusted { .. }), "{e:?}");
    assert!(e.to_string().contains("hash to sha256:"), "{e}");
    // No blob of the image was committed in the target, and no manifest.
    for d in parts_of(a, "team/app", "source").await.1 {
        assert_eq!(
            status(&b.addr, &format!("prod/app/blobs/{d}")).await,
            404,
            "{d}"
        );
    }
    assert_eq!(status(&b.addr, "prod/app/manifests/v1").await, 404);
}

#[tokio::test]
async fn promote_cancelled_mid_copy_leaves_the_target_without_the_image() {
    let Some(p) = Pair::start(4, 256 * 1024, false).await else {
        return;
    };
    let (b, index, front) = (&p.b, &p.index, &p.front);
    let blobs = p.blobs;
    let (handle, cancel) = stevedore::cancel::pair();
    // The signal comes once the first blob went through the target.
    front.cancel_after_patches(1, handle);
    let e = p
        .copy(&Net::builtin().with_cancel(cancel))
        .await
        .unwrap_err();
    assert!(matches!(e, RegistryError::Cancelled(_)), "{e:?}");
    assert!(e.to_string().contains("cancelled by SIGTERM"), "{e}");
    assert!(front.count("PATCH upload") < blobs, "{:?}", front.counts());
    // No tag, no manifest of the image (nor of its children) in the target.
    assert_eq!(front.count("PUT manifest"), 0, "{:?}", front.counts());
    assert_eq!(status(&b.addr, "prod/app/manifests/v1").await, 404);
    assert_eq!(
        status(&b.addr, &format!("prod/app/manifests/{index}")).await,
        404
    );
}

#[tokio::test]
async fn promote_logs_in_to_ecr_and_answers_a_bearer_challenge_with_those_credentials() {
    let Some(moto) = crate::helpers::moto::moto() else {
        return;
    };
    let (Some(a), Some(b)) = (engine::Registry::start(), engine::Registry::start()) else {
        return;
    };
    let sdk = crate::lambda::sdk(&moto.endpoint);
    let ecr = crate::helpers::moto::ecr(&sdk);
    let (endpoint, creds) = registry::ecr_credentials(&ecr).await.unwrap();
    assert!(
        endpoint.starts_with("https://") && endpoint.contains(".dkr.ecr.us-east-1.amazonaws.com"),
        "{endpoint}"
    );
    let Credentials::Basic { username, password } = &creds else {
        panic!("ECR credentials are Basic: {creds:?}");
    };
    assert_eq!(username, "AWS");
    let front = RegistryFront::start(&b.addr).await;
    front.require_token_for(username, password.expose_secret());
    let (index, _) = multi_arch(&a.addr, "team/app", 5, 1024).await;
    let net = Net::builtin();
    let src = client(&net, &format!("http://{}", a.addr));
    // Wrong credentials: refused, nothing written.
    let wrong = Registry::new(
        &net,
        &front.url,
        Credentials::Basic {
            username: "AWS".into(),
            password: "not-it".to_owned().into(),
        },
    )
    .unwrap();
    let e = copy_to(&src, "team/app", &index, &wrong, "prod/app", None)
        .await
        .unwrap_err();
    assert!(matches!(e, RegistryError::Unauthorized { .. }), "{e:?}");
    assert!(!e.to_string().contains("not-it"), "{e}");
    let dst = Registry::new(&net, &front.url, creds.clone()).unwrap();
    let copied = copy_to(&src, "team/app", &index, &dst, "prod/app", None)
        .await
        .unwrap();
    assert_eq!(copied.digest.as_ref(), Some(&index));
    assert_eq!(
        b.manifest("prod/app", index.as_str()).await.0,
        index.as_str()
    );
    // Tokens are cached per scope set: far fewer token requests than registry requests.
    let tokens = front.count("GET token");
    let requests: usize = front.counts().values().sum::<usize>() - tokens;
    assert!(tokens >= 1 && tokens * 3 < requests, "{:?}", front.counts());
}

// ---- Lambda zips between two accounts ------------------------------------------------------------------

/// The SDK configuration of another moto account: `AssumeRole` into `arn:aws:iam::<account>:role/promote`
/// (moto files the keys it hands out under the role's account).
pub async fn other_account(endpoint: &str, account: &str) -> aws_types::SdkConfig {
    let sts = aws_sdk_sts::Client::new(&crate::lambda::sdk(endpoint));
    let c = sts
        .assume_role()
        .role_arn(format!("arn:aws:iam::{account}:role/promote"))
        .role_session_name("promote")
        .send()
        .await
        .unwrap()
        .credentials
        .unwrap();
    let creds = aws_credential_types::Credentials::new(
        c.access_key_id,
        c.secret_access_key,
        Some(c.session_token),
        None,
        "assumed",
    );
    aws_types::SdkConfig::builder()
        .http_client(stevedore::aws::http_client(&stevedore::Env::default()))
        .behavior_version(aws_config::BehaviorVersion::latest())
        .region(aws_types::region::Region::new("us-east-1"))
        .credentials_provider(aws_credential_types::provider::SharedCredentialsProvider::new(creds))
        .endpoint_url(endpoint)
        .build()
}

/// The access key of `sdk`'s credentials (moto keys an assumed role's resources by it).
pub async fn access_key(sdk: &aws_types::SdkConfig) -> String {
    use aws_credential_types::provider::ProvideCredentials as _;
    sdk.credentials_provider()
        .unwrap()
        .provide_credentials()
        .await
        .unwrap()
        .access_key_id()
        .to_owned()
}

async fn account_of(sdk: &aws_types::SdkConfig) -> String {
    aws_sdk_sts::Client::new(sdk)
        .get_caller_identity()
        .send()
        .await
        .unwrap()
        .account
        .unwrap()
}

pub async fn bucket(sdk: &aws_types::SdkConfig, name: &str) {
    let conf = aws_sdk_s3::config::Builder::from(sdk)
        .force_path_style(true)
        .build();
    aws_sdk_s3::Client::from_conf(conf)
        .create_bucket()
        .bucket(name)
        .send()
        .await
        .unwrap();
}

/// A function of `sdk`'s account from `s3://bucket/key`; its `CodeSha256`.
async fn function_from(
    sdk: &aws_types::SdkConfig,
    key_id: &str,
    bucket: &str,
    key: &str,
) -> String {
    use aws_sdk_lambda::types::{FunctionCode, Runtime};
    let endpoint = sdk.endpoint_url().unwrap().to_owned();
    let name = crate::helpers::moto::unique("promoted");
    let role = crate::lambda::create_role_as(&endpoint, key_id, &format!("{name}-role")).await;
    aws_sdk_lambda::Client::new(sdk)
        .create_function()
        .function_name(&name)
        .runtime(Runtime::Python312)
        .role(role)
        .handler("app.handler")
        .code(
            FunctionCode::builder()
                .s3_bucket(bucket)
                .s3_key(key)
                .build(),
        )
        .send()
        .await
        .unwrap()
        .code_sha256
        .unwrap()
}

#[tokio::test]
async fn promote_copies_a_lambda_zip_to_another_account_by_its_code_hash() {
    use stevedore::aws::s3::S3;
    use stevedore::aws::zip_copy::{self, Object, ZipCopyError};
    let Some(m) = crate::helpers::moto::moto() else {
        return;
    };
    stevedore::net::crypto::install();
    let dev = crate::lambda::sdk(&m.endpoint);
    let prod = other_account(&m.endpoint, "222222222222").await;
    assert_eq!(account_of(&prod).await, "222222222222");
    assert_ne!(account_of(&dev).await, "222222222222");
    let (dev_bucket, prod_bucket) = (
        crate::helpers::moto::unique("dev-artifacts"),
        crate::helpers::moto::unique("prod-artifacts"),
    );
    bucket(&dev, &dev_bucket).await;
    bucket(&prod, &prod_bucket).await;
    let http = crate::helpers::reqwest_client();
    let (dev_s3, prod_s3) = (S3::new(&dev, http.clone()), S3::new(&prod, http));
    // The dev deployment: a function from the recorded object, whose CodeSha256 the deployment records.
    let zip = crate::lambda::zip("def handler(e, c):\n    return 'v7'\n");
    dev_s3
        .put(stevedore::aws::s3::Put {
            bucket: &dev_bucket,
            key: "worker/v7.zip",
            body: stevedore::aws::s3::Body::Bytes(&zip),
            content_type: "application/zip",
            checksum_sha256: None,
            metadata: &[],
        })
        .await
        .unwrap();
    let recorded = function_from(&dev, "testing", &dev_bucket, "worker/v7.zip").await;
    assert_eq!(recorded, zip_copy::code_sha256(&zip));

    let from = Object {
        bucket: &dev_bucket,
        key: "worker/v7.zip",
    };
    let to = Object {
        bucket: &prod_bucket,
        key: "worker/v7.zip",
    };
    let copied = zip_copy::copy_zip(&dev_s3, from, &prod_s3, to, &recorded)
        .await
        .unwrap();
    assert_eq!(copied.bytes_written, zip.len() as u64);
    // The production function made from the copy has the very code hash dev had.
    let prod_key = access_key(&prod).await;
    let promoted = function_from(&prod, &prod_key, &prod_bucket, "worker/v7.zip").await;
    assert_eq!(promoted, recorded);
    let head = prod_s3
        .head(&prod_bucket, "worker/v7.zip")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        head.meta(zip_copy::META_CODE_SHA256),
        Some(recorded.as_str())
    );

    // Idempotent: a second copy writes nothing.
    let again = zip_copy::copy_zip(&dev_s3, from, &prod_s3, to, &recorded)
        .await
        .unwrap();
    assert_eq!(again.bytes_written, 0);

    // The recorded object replaced since the deployment: refused before anything is written.
    let other = Object {
        bucket: &prod_bucket,
        key: "worker/v8.zip",
    };
    dev_s3
        .put(stevedore::aws::s3::Put {
            bucket: &dev_bucket,
            key: "worker/v7.zip",
            body: stevedore::aws::s3::Body::Bytes(b"not the zip"),
            content_type: "application/zip",
            checksum_sha256: None,
            metadata: &[],
        })
        .await
        .unwrap();
    let e = zip_copy::copy_zip(&dev_s3, from, &prod_s3, other, &recorded)
        .await
        .unwrap_err();
    assert!(
        matches!(e, ZipCopyError::Mismatch { target: false, .. }),
        "{e:?}"
    );
    assert!(e.to_string().contains("not the recorded code hash"), "{e}");
    assert!(
        prod_s3
            .head(&prod_bucket, "worker/v8.zip")
            .await
            .unwrap()
            .is_none()
    );
    // A target key that holds other bytes (a record can name any key) is never overwritten.
    let taken = Object {
        bucket: &prod_bucket,
        key: "worker/taken.zip",
    };
    prod_s3
        .put(stevedore::aws::s3::Put {
            bucket: &prod_bucket,
            key: "worker/taken.zip",
            body: stevedore::aws::s3::Body::Bytes(b"someone else's object"),
            content_type: "application/zip",
            checksum_sha256: None,
            metadata: &[],
        })
        .await
        .unwrap();
    let e = zip_copy::copy_zip(&dev_s3, from, &prod_s3, taken, &recorded)
        .await
        .unwrap_err();
    assert!(matches!(e, ZipCopyError::Occupied { .. }), "{e:?}");
    assert!(e.to_string().contains("was not overwritten"), "{e}");
    assert_eq!(
        prod_s3.get(&prod_bucket, "worker/taken.zip").await.unwrap(),
        b"someone else's object"
    );
    // A malformed code hash is refused at once.
    let e = zip_copy::copy_zip(&dev_s3, from, &prod_s3, other, "abc")
        .await
        .unwrap_err();
    assert!(matches!(e, ZipCopyError::BadCodeHash(_)), "{e:?}");
}

// ---- benchmark -----------------------------------------------------------------------------------------

/// A TCP forwarder to `upstream` counting the bytes it carries both ways.
async fn byte_counter(upstream: &str) -> (String, std::sync::Arc<std::sync::atomic::AtomicU64>) {
    use std::sync::atomic::AtomicU64;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let bytes = std::sync::Arc::new(AtomicU64::new(0));
    let (counted, upstream) = (bytes.clone(), upstream.to_owned());
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let (counted, upstream) = (counted.clone(), upstream.clone());
            tokio::spawn(async move {
                let server = tokio::net::TcpStream::connect(&upstream).await.unwrap();
                let (cr, cw) = client.into_split();
                let (sr, sw) = server.into_split();
                // Counted as they pass, not at the end: pooled connections stay open.
                tokio::join!(pump(cr, sw, counted.clone()), pump(sr, cw, counted));
            });
        }
    });
    (addr, bytes)
}

async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    counted: std::sync::Arc<std::sync::atomic::AtomicU64>,
) {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let mut buf = vec![0u8; 64 * 1024];
    while let Ok(n) = from.read(&mut buf).await {
        if n == 0 || to.write_all(&buf[..n]).await.is_err() {
            break;
        }
        counted.fetch_add(n as u64, std::sync::atomic::Ordering::Relaxed);
    }
    let _ = to.shutdown().await;
}

/// A gzipped tar layer holding `n` random bytes: (blob, diff id).
fn tar_gz_layer(seed: u64, n: usize) -> (Vec<u8>, String) {
    let data = noise(seed, n);
    let mut tar = tar::Builder::new(Vec::new());
    let mut header = tar::Header::new_gnu();
    header.set_size(n as u64);
    header.set_mode(0o644);
    header.set_cksum();
    tar.append_data(&mut header, format!("layer-{seed}.bin"), data.as_slice())
        .unwrap();
    let tar = tar.into_inner().unwrap();
    let diff_id = Digest::of(&tar).to_string();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut gz, &tar).unwrap();
    (gz.finish().unwrap(), diff_id)
}

/// A 200 MB two-architecture image (a shared 50 MB layer, 75 MB of each architecture's own) pushed to
/// `addr` as `repo:source`; the index's digest.
async fn image_200mb(addr: &str, repo: &str) -> Digest {
    let mb = 1024 * 1024;
    let shared = tar_gz_layer(100, 50 * mb);
    let own = [tar_gz_layer(101, 75 * mb), tar_gz_layer(102, 75 * mb)];
    push_two_arch(addr, repo, shared, own).await
}

/// BENCHMARKS.md "Promotion: a 200 MB multi-arch image between two loopback registries".
#[tokio::test]
#[ignore = "benchmark: cargo test --test it bench_promotion -- --ignored --nocapture"]
async fn bench_promotion_200mb_multi_arch_against_podman_pull_and_push() {
    use std::sync::atomic::Ordering;
    use std::time::Instant;
    let (Some(a), Some(b), Some(c)) = (
        engine::Registry::start(),
        engine::Registry::start(),
        engine::Registry::start(),
    ) else {
        return;
    };
    let index = image_200mb(&a.addr, "bench/app").await;
    let (src_addr, src_bytes) = byte_counter(&a.addr).await;
    let (dst_addr, dst_bytes) = byte_counter(&b.addr).await;
    let net = Net::builtin();
    let src = client(&net, &format!("http://{src_addr}"));
    let dst = client(&net, &format!("http://{dst_addr}"));
    let t0 = Instant::now();
    let copied = copy_to(&src, "bench/app", &index, &dst, "prod/app", Some("v1"))
        .await
        .unwrap();
    let took = t0.elapsed();
    let wire = src_bytes.load(Ordering::Relaxed) + dst_bytes.load(Ordering::Relaxed);
    assert_eq!(b.manifest("prod/app", "v1").await.0, index.as_str());
    println!(
        "stevedore registry::copy: {:.2} s, {} blobs uploaded, {:.1} MiB of blobs and manifests moved, {:.1} MiB on the wire (both registries, both ways); target digest {}",
        took.as_secs_f64(),
        copied.blobs_uploaded,
        copied.bytes_moved as f64 / 1048576.0,
        wire as f64 / 1048576.0,
        index
    );
    let t0 = Instant::now();
    let again = copy_to(&src, "bench/app", &index, &dst, "prod/app", Some("v1"))
        .await
        .unwrap();
    println!(
        "stevedore registry::copy again (all present): {:.3} s, {} uploaded",
        t0.elapsed().as_secs_f64(),
        again.blobs_uploaded
    );

    // What a workflow does today: pull the image on the runner, push it to the other registry.
    let (pull_addr, pull_bytes) = byte_counter(&a.addr).await;
    let (push_addr, push_bytes) = byte_counter(&c.addr).await;
    let Some(podman) = engine::Podman::start(&pull_addr) else {
        return;
    };
    // The counters forward on this test's runtime: podman runs off it.
    let run = |args: &[&str]| {
        let mut cmd = podman.cli();
        cmd.args(args);
        let args = format!("{args:?}");
        async move {
            let out = tokio::task::spawn_blocking(move || cmd.output().unwrap())
                .await
                .unwrap();
            assert!(
                out.status.success(),
                "podman {args}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
    };
    let source_ref = format!("{pull_addr}/bench/app@{index}");
    let target_ref = format!("{push_addr}/prod/app:v1");
    let t0 = Instant::now();
    run(&["pull", "-q", "--tls-verify=false", &source_ref]).await;
    let pulled = t0.elapsed();
    run(&["tag", &source_ref, &target_ref]).await;
    run(&["push", "-q", "--tls-verify=false", &target_ref]).await;
    let took = t0.elapsed();
    let wire = pull_bytes.load(Ordering::Relaxed) + push_bytes.load(Ordering::Relaxed);
    let (pushed_digest, _, media) = c.manifest("prod/app", "v1").await;
    println!(
        "podman pull + push: {:.2} s (pull {:.2} s), {:.1} MiB on the wire; target digest {pushed_digest} ({media}), source {index}",
        took.as_secs_f64(),
        pulled.as_secs_f64(),
        wire as f64 / 1048576.0,
    );
}

#[tokio::test]
async fn promote_answers_ecrs_basic_challenge_with_the_ecr_login() {
    let Some(moto) = crate::helpers::moto::moto() else {
        return;
    };
    let (Some(a), Some(b)) = (engine::Registry::start(), engine::Registry::start()) else {
        return;
    };
    let ecr = crate::helpers::moto::ecr(&crate::lambda::sdk(&moto.endpoint));
    let net = Net::builtin();
    let logged_in = Registry::ecr(&net, &ecr).await.unwrap();
    assert!(
        logged_in
            .host()
            .ends_with(".dkr.ecr.us-east-1.amazonaws.com"),
        "{}",
        logged_in.host()
    );
    let Credentials::Basic { username, password } = logged_in.credentials().clone() else {
        panic!("ECR credentials are Basic");
    };
    let front = RegistryFront::start(&b.addr).await;
    front.require_basic(&username, password.expose_secret());
    let (index, _) = multi_arch(&a.addr, "team/app", 8, 1024).await;
    let src = client(&net, &format!("http://{}", a.addr));
    let dst = Registry::new(&net, &front.url, logged_in.credentials().clone()).unwrap();
    let copied = copy_to(&src, "team/app", &index, &dst, "prod/app", Some("v1"))
        .await
        .unwrap();
    assert_eq!(copied.digest.as_ref(), Some(&index));
    assert_eq!(b.manifest("prod/app", "v1").await.0, index.as_str());
    // Anonymous: refused with the registry named, nothing written.
    let anonymous = client(&net, &front.url);
    let e = copy_to(&src, "team/app", &index, &anonymous, "other/app", None)
        .await
        .unwrap_err();
    assert!(matches!(e, RegistryError::Unauthorized { .. }), "{e:?}");
    assert!(
        e.to_string()
            .contains("asks for a user name and password, and none were given"),
        "{e}"
    );
}
