//! publish uploads packages (issue 19) to real registries on loopback — Verdaccio for npm, pypiserver for
//! PyPI — with token inputs and with the trusted-publishing exchange (the documented endpoints served by
//! [`Front`] in front of the real registry): first publish, re-run (skipped), different content (refused,
//! nothing changed), a failure between release and upload completed by a re-run, the prerelease dist-tag,
//! a version mismatch and a refused exchange.

use crate::helpers::{has, lacks};
use serde_json::Value;
use sha2::Digest as _;

use crate::helpers::fake_github::FakeGithub;
use crate::helpers::fake_oidc::{FakeOidc, Settings};
use crate::helpers::registries::{
    Front, npm_tgz, pypiserver, python_files, sdist, unique, verdaccio, wheel,
};
use crate::helpers::run::{Step, StepResult};

const RELEASES: &str = "POST /repos/{owner}/{repo}/releases";
const UPDATE_RELEASE: &str = "PATCH /repos/{owner}/{repo}/releases/{release_id}";

fn step(gh: &FakeGithub, branch: &str, head: &str, files: &[(String, Vec<u8>)]) -> Step {
    let s = crate::publish::step(gh, branch, head);
    for (rel, bytes) in files {
        let p = s.workspace.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, bytes).unwrap();
    }
    s
}

/// `v1.0.0` released at one commit, then a `feat:` on top: the computed version is 1.1.0.
fn repo_at_1_1_0(gh: &FakeGithub) -> String {
    let old = gh.seed_commits("main", &["feat: a"]);
    gh.set_ref("refs/tags/v1.0.0", &old[0]);
    gh.seed_commits("main", &["feat: b"]).remove(0)
}

/// The installed file `path` holds exactly `want`.
#[track_caller]
fn assert_holds(path: &std::path::Path, want: &str) {
    assert_eq!(std::fs::read_to_string(path).unwrap(), want);
}

fn sha256(b: &[u8]) -> String {
    hex::encode(sha2::Sha256::digest(b))
}

fn packages(r: &StepResult) -> Vec<Value> {
    serde_json::from_str::<Value>(r.output("packages").unwrap_or("[]"))
        .unwrap()
        .as_array()
        .cloned()
        .unwrap_or_default()
}

fn outcomes(r: &StepResult) -> Vec<String> {
    packages(r)
        .iter()
        .map(|p| p["outcome"].as_str().unwrap().to_owned())
        .collect()
}

/// `secret` appears on stdout only in its `::add-mask::` line.
fn assert_masked(r: &StepResult, secret: &str) {
    crate::helpers::assert_only_masked(&r.stdout, secret);
    assert!(!r.summary.contains(secret));
    assert!(r.outputs.iter().all(|(_, v)| !v.contains(secret)));
}

fn py_files(name: &str, version: &str, code: &str) -> Vec<(String, Vec<u8>)> {
    let (s, w) = python_files(name, version);
    vec![
        (format!("dist/{s}"), sdist(name, version, code)),
        (format!("dist/{w}"), wheel(name, version, code)),
    ]
}

/// A pypiserver, a fake GitHub whose `main` computes 1.1.0, and an sdist and a wheel of a project named
/// after `prefix` at 1.1.0: where the PyPI upload tests start.
struct PypiAt110 {
    py: crate::helpers::registries::PypiServer,
    gh: FakeGithub,
    head: String,
    name: String,
    files: Vec<(String, Vec<u8>)>,
}

impl PypiAt110 {
    /// The project's module is `code`. `None` (skip) without pypiserver.
    async fn start(prefix: &str, code: &str) -> Option<Self> {
        let py = pypiserver()?;
        let gh = FakeGithub::start().await;
        let head = repo_at_1_1_0(&gh);
        let name = unique(prefix);
        let files = py_files(&name, "1.1.0", code);
        Some(Self {
            py,
            gh,
            head,
            name,
            files,
        })
    }

    /// The publish step on `main` uploading `files` (those `packages` matches) with `token`.
    fn step(&self, files: &[(String, Vec<u8>)], packages: &str, token: &str) -> Step {
        step(&self.gh, "main", &self.head, files)
            .input("packages", packages)
            .input("pypi-repository", &format!("{}/", self.py.url))
            .input("pypi-token", token)
    }
}

#[tokio::test]
async fn pypi_upload_then_rerun_skips_then_other_content_is_refused_with_nothing_changed() {
    let Some(t) = PypiAt110::start("demo", "X = 1\n").await else {
        return;
    };
    let (py, gh, name, files) = (&t.py, &t.gh, &t.name, &t.files);
    let run = |files: Vec<(String, Vec<u8>)>| {
        t.step(&files, "dist/*.tar.gz\ndist/*.whl", &py.token).run()
    };
    let r = run(files.clone()).await;
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.summary);
    assert_eq!(r.output("version"), Some("1.1.0"));
    assert_masked(&r, &py.token);
    let page = py.simple(name).await.expect("project listed");
    for (rel, bytes) in files {
        let file = rel.strip_prefix("dist/").unwrap();
        has(&page, &format!("{file}#sha256={}", sha256(bytes)));
        assert_eq!(&py.download(file).await, bytes);
        has(&r.summary, &sha256(bytes));
        has(&r.summary, &format!("{} B", bytes.len()));
    }
    let out = packages(&r);
    assert_eq!(out.len(), 2, "{out:?}");
    assert!(
        out.iter()
            .all(|p| p["outcome"] == "uploaded" && p["version"] == "1.1.0")
    );
    assert_eq!(out[0]["url"], format!("{}/simple/{name}/", py.url));
    assert_eq!(out[0]["sha256"], sha256(&files[0].1));
    assert_eq!(out[0]["size"], files[0].1.len());

    // Re-run: both files are there with the same bytes: skipped with a note, still success.
    let r = run(files.clone()).await;
    assert_eq!(r.code, 0, "{}", r.stdout);
    assert_eq!(outcomes(&r), ["already-there", "already-there"]);
    has(&r.summary, "already there (same content), skipped");

    // Other bytes under the same version: refused before anything is written.
    let writes = (gh.count(RELEASES), gh.count(UPDATE_RELEASE));
    let other = py_files(name, "1.1.0", "X = 2\n");
    let r = run(other).await;
    assert_eq!(r.code, 1, "{}", r.stdout);
    has(&r.stdout, "with different content");
    has(&r.stdout, &format!("sha256 {}", sha256(&files[0].1)));
    has(&r.stdout, "Nothing was tagged, released or uploaded");
    assert_eq!((gh.count(RELEASES), gh.count(UPDATE_RELEASE)), writes);
    assert_eq!(
        py.download(files[0].0.strip_prefix("dist/").unwrap()).await,
        files[0].1
    );
    gh.assert_no_violations();
}

#[tokio::test]
async fn pypi_upload_failing_after_the_release_is_completed_by_a_rerun() {
    let Some(t) = PypiAt110::start("late", "Y = 1\n").await else {
        return;
    };
    let (py, gh, name, files) = (&t.py, &t.gh, &t.name, &t.files);
    let run = |token: &str| t.step(files, "dist/*", token).run();
    // pypiserver checks the token: the upload (after the tag and release) is refused.
    let r = run("pypi-wrong-token-0000").await;
    assert_eq!(r.code, 1, "{}", r.stdout);
    has(&r.stdout, "HTTP 403");
    has(&r.stdout, "A re-run completes the upload");
    assert_eq!(gh.releases().len(), 1);
    assert!(gh.refs().contains_key("refs/tags/v1.1.0"));
    assert!(py.simple(name).await.is_none());

    let r = run(&py.token).await;
    assert_eq!(r.code, 0, "{}", r.stdout);
    assert_eq!(r.output("version"), Some("1.1.0"));
    assert_eq!(outcomes(&r), ["uploaded", "uploaded"]);
    assert_eq!(gh.releases().len(), 1);
    let page = py.simple(name).await.unwrap();
    has(&page, &sha256(&files[1].1));
    gh.assert_no_violations();
}

#[tokio::test]
async fn version_mismatch_fails_before_anything_with_the_fixing_command() {
    let gh = FakeGithub::start().await;
    let head = repo_at_1_1_0(&gh);
    let name = unique("mismatch");
    let mut files = vec![("pkg/demo.tgz".to_owned(), npm_tgz(&name, "1.0.0", "1"))];
    files.extend(py_files(&name, "1.0.0", "Z = 1\n"));
    // Unreachable registries: the check fails before any request.
    let r = step(&gh, "main", &head, &files)
        .input("packages", "pkg/*.tgz, dist/*")
        .input("npm-registry", "http://127.0.0.1:9")
        .input("pypi-repository", "http://127.0.0.1:9/")
        .input("npm-token", "npm-tok-unused")
        .input("pypi-token", "pypi-tok-unused")
        .exits(1)
        .await;
    for part in [
        "npm version 1.1.0 --no-git-tag-version",
        "version = \"1.1.0\"",
        "`pkg/demo.tgz` carries version `1.0.0`",
        &format!(
            "`dist/{}` carries version `1.0.0`",
            python_files(&name, "1.0.0").1
        ),
    ] {
        assert!(r.stdout.contains(part), "{part}: {}", r.stdout);
    }
    assert!(gh.refs().keys().all(|k| k != "refs/tags/v1.1.0"));
    assert!(gh.releases().is_empty());

    // A glob matching nothing is named.
    let r = step(&gh, "main", &head, &[])
        .input("packages", "dist/*.whl")
        .exits(1)
        .await;
    has(&r.stdout, "`dist/*.whl` matched no file");
    assert!(gh.releases().is_empty());
}

#[tokio::test]
async fn npm_prerelease_goes_to_its_dist_tag_then_rerun_skips_and_other_content_is_refused() {
    let Some(npm) = verdaccio() else { return };
    let token = npm.token().await;
    let gh = FakeGithub::start().await;
    let name = format!("@stevedore/{}", unique("lib"));
    // A first stable release: `latest`.
    let base = gh.seed_commits("main", &["feat: a"]);
    let files = vec![("out/lib.tgz".to_owned(), npm_tgz(&name, "0.1.0", "a"))];
    let run = |branch: &str, head: &str, files: &[(String, Vec<u8>)]| {
        step(&gh, branch, head, files)
            .input("packages", "out/*.tgz")
            .input("npm-registry", &npm.url)
            .input("npm-token", &token)
            .run()
    };
    let r = run("main", &base[0], &files).await;
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.summary);
    assert_eq!(r.output("version"), Some("0.1.0"));
    assert_masked(&r, &token);
    assert_eq!(packages(&r)[0]["dist-tag"], "latest");

    // A prerelease on `dev`: dist-tag `dev`, `latest` stays on the stable version.
    gh.set_ref("refs/heads/dev", &base[0]);
    let d = gh.seed_commits("dev", &["feat: b"]);
    let files = vec![("out/lib.tgz".to_owned(), npm_tgz(&name, "0.2.0-dev.1", "b"))];
    let r = run("dev", &d[0], &files).await;
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.summary);
    assert_eq!(r.output("version"), Some("0.2.0-dev.1"));
    assert_eq!(packages(&r)[0]["dist-tag"], "dev");
    assert_eq!(outcomes(&r), ["uploaded"]);
    let doc = npm.packument(&name).await.unwrap();
    assert_eq!(doc["dist-tags"]["latest"], "0.1.0", "{doc}");
    assert_eq!(doc["dist-tags"]["dev"], "0.2.0-dev.1", "{doc}");
    let dist = &doc["versions"]["0.2.0-dev.1"]["dist"];
    assert_eq!(dist["shasum"].as_str().unwrap().len(), 40);
    assert!(dist["integrity"].as_str().unwrap().starts_with("sha512-"));
    assert_eq!(npm.tarball(&name, "0.2.0-dev.1").await, files[0].1);
    has(&r.summary, &sha256(&files[0].1));
    assert_eq!(
        packages(&r)[0]["url"],
        format!(
            "{}/@stevedore%2f{}/0.2.0-dev.1",
            npm.url,
            name.trim_start_matches("@stevedore/")
        )
    );

    // Re-run: same bytes, skipped.
    let r = run("dev", &d[0], &files).await;
    assert_eq!(r.code, 0, "{}", r.stdout);
    assert_eq!(outcomes(&r), ["already-there"]);

    // Other bytes under the same version: refused, nothing changed.
    let writes = (gh.count(RELEASES), gh.count(UPDATE_RELEASE));
    let other = vec![("out/lib.tgz".to_owned(), npm_tgz(&name, "0.2.0-dev.1", "c"))];
    let r = run("dev", &d[0], &other).await;
    assert_eq!(r.code, 1, "{}", r.stdout);
    has(&r.stdout, "with different content");
    assert_eq!((gh.count(RELEASES), gh.count(UPDATE_RELEASE)), writes);
    assert_eq!(npm.tarball(&name, "0.2.0-dev.1").await, files[0].1);
    gh.assert_no_violations();
}

#[tokio::test]
async fn npm_trusted_publishing_exchanges_the_oidc_token_masks_it_and_a_refusal_names_the_settings()
{
    let Some(npm) = verdaccio() else { return };
    let real = npm.token().await;
    let front = Front::trusting(&npm.url, "octo-org/other-repo", "npm:127.0.0.1", &real).await;
    let oidc = FakeOidc::start(Settings {
        environment: Some("release".into()),
        ..Settings::default()
    })
    .await;
    let gh = FakeGithub::start().await;
    let head = repo_at_1_1_0(&gh);
    let name = unique("tp");
    let files = vec![("dist/tp.tgz".to_owned(), npm_tgz(&name, "1.1.0", "tp"))];
    let run = || {
        oidc.apply(step(&gh, "main", &head, &files))
            .input("packages", "dist/*.tgz")
            .input("npm-registry", &front.url)
            .run()
    };
    // The trusted publisher names another repository: refused before anything is written.
    let r = run().await;
    assert_eq!(r.code, 1, "{}", r.stdout);
    has(&r.stdout, "trusted publishing to");
    has(&r.stdout, "HTTP 404");
    // The refusal names the values the trusted publisher must hold, from the job's OIDC token.
    has(
        &r.stdout,
        "must name owner `octo-org`, repository `octo-repo`, workflow `deploy.yml` and environment `release`",
    );
    has(
        &r.summary,
        "owner `octo-org`, repository `octo-repo`, workflow `deploy.yml`",
    );
    has(&r.stdout, "id-token: write");
    assert!(gh.releases().is_empty());
    assert!(npm.packument(&name).await.is_none());

    front.update(|t| t.repository = "octo-org/octo-repo".into());
    let r = run().await;
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.summary);
    assert_eq!(outcomes(&r), ["uploaded"]);
    assert_masked(&r, &real);
    let ex = front.exchanges();
    assert_eq!(
        ex.last().unwrap(),
        &(format!("/-/npm/v1/oidc/token/exchange/package/{name}"), 201)
    );
    assert_eq!(npm.tarball(&name, "1.1.0").await, files[0].1);
    // The OIDC token was fetched for npm's audience.
    let jwt = oidc.minted().pop().unwrap();
    let claims = stevedore::oidc::unverified_claims(&jwt).unwrap();
    assert!(claims.aud.contains("npm:127.0.0.1"));
    assert_masked(&r, &jwt);
}

#[tokio::test]
async fn pypi_trusted_publishing_mints_a_token_masks_it_and_a_refusal_names_the_settings() {
    let Some(py) = pypiserver() else { return };
    let front = Front::trusting(&py.url, "octo-org/octo-repo", "pypi.loopback", &py.token).await;
    let oidc = FakeOidc::start(Settings::default()).await;
    let gh = FakeGithub::start().await;
    let head = repo_at_1_1_0(&gh);
    let name = unique("mint");
    let files = py_files(&name, "1.1.0", "M = 1\n");
    let run = || {
        oidc.apply(step(&gh, "main", &head, &files))
            .input("packages", "dist/*")
            .input("pypi-repository", &format!("{}/", front.url))
            .input("pypi-audience", "pypi.loopback")
            .run()
    };
    // The claims are GitHub's, but an environment name is the repository's choice: it is named in the
    // refusal as inert text (no line break, no tag, no code span it could close).
    oidc.update(|s| {
        s.repository = "someone/else".into();
        s.environment = Some("prod`<img src=x>\n::warning::forged".into());
    });
    let r = run().await;
    assert_eq!(r.code, 1, "{}", r.stdout);
    has(&r.stdout, "invalid-publisher");
    has(
        &r.stdout,
        "Publishing settings must list a GitHub trusted publisher with owner `someone`, repository `else`, workflow `deploy.yml` and environment `prod'<img src=x> ::warning::forged`",
    );
    assert!(
        r.stdout
            .lines()
            .all(|l| !l.starts_with("::warning::forged")),
        "{}",
        r.stdout
    );
    // In the summary the environment is a `<code>` span of escaped text: no tag.
    assert!(
        r.summary
            .contains("environment <code>prod'&lt;img src=x&gt; ::warning::forged</code>"),
        "{}",
        r.summary
    );
    assert!(!r.summary.contains("<img"), "{}", r.summary);
    oidc.update(|s| s.environment = None);
    assert!(gh.releases().is_empty());
    assert!(py.simple(&name).await.is_none());

    oidc.update(|s| s.repository = "octo-org/octo-repo".into());
    let r = run().await;
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.summary);
    assert_eq!(outcomes(&r), ["uploaded", "uploaded"]);
    assert_masked(&r, &py.token);
    assert_eq!(
        front.exchanges().last().unwrap(),
        &("/_/oidc/mint-token".to_owned(), 200)
    );
    let jwt = oidc.minted().pop().unwrap();
    assert!(
        stevedore::oidc::unverified_claims(&jwt)
            .unwrap()
            .aud
            .contains("pypi.loopback")
    );
    assert!(
        py.simple(&name)
            .await
            .unwrap()
            .contains(&sha256(&files[0].1))
    );
}

// ---- the real clients: what `npm pack` / `python -m build` make goes up, and npm / pip install it ----

use crate::helpers::ok_output as tool;

fn npm_cli() -> Option<String> {
    let found = std::process::Command::new("npm")
        .arg("--version")
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|_| "npm".to_owned());
    crate::helpers::require("npm (Node.js)", found)
}

#[tokio::test]
async fn a_real_npm_pack_is_published_and_the_real_npm_client_installs_it() {
    let Some(npm) = verdaccio() else { return };
    let Some(cli) = npm_cli() else { return };
    let token = npm.token().await;
    let gh = FakeGithub::start().await;
    let head = repo_at_1_1_0(&gh);
    let name = unique("real");
    let src = tempfile::tempdir().unwrap();
    std::fs::write(
        src.path().join("package.json"),
        serde_json::json!({"name": name, "version": "0.0.0", "main": "index.js", "license": "MIT"})
            .to_string(),
    )
    .unwrap();
    std::fs::write(src.path().join("index.js"), "module.exports = 42;\n").unwrap();
    std::fs::create_dir_all(src.path().join("dist")).unwrap();
    let cache = src.path().join(".npm-cache");
    let npm_cmd = |args: &[&str]| {
        let mut c = std::process::Command::new(&cli);
        c.args(args)
            .current_dir(src.path())
            .env("npm_config_cache", &cache)
            .env("npm_config_update_notifier", "false");
        c
    };
    // What the example workflow runs.
    tool(&mut npm_cmd(&["version", "1.1.0", "--no-git-tag-version"]));
    tool(&mut npm_cmd(&["pack", "--pack-destination", "dist"]));
    let tgz = std::fs::read(src.path().join(format!("dist/{name}-1.1.0.tgz"))).unwrap();
    let r = step(
        &gh,
        "main",
        &head,
        &[("dist/pkg.tgz".to_owned(), tgz.clone())],
    )
    .input("packages", "dist/*.tgz")
    .input("npm-registry", &npm.url)
    .input("npm-token", &token)
    .exits(0)
    .await;
    assert_eq!(outcomes(&r), ["uploaded"]);
    // npm reads the packument we wrote: the integrity npm computes itself from the tarball.
    let view = tool(&mut npm_cmd(&[
        "view",
        &format!("{name}@1.1.0"),
        "dist",
        "--json",
        "--registry",
        &npm.url,
    ]));
    let dist: Value = serde_json::from_str(&view).unwrap();
    let expected = format!(
        "sha512-{}",
        base64::Engine::encode(
            &base64::engine::general_purpose::STANDARD,
            sha2::Sha512::digest(&tgz)
        )
    );
    assert_eq!(dist["integrity"], expected, "{view}");
    // And installs it (npm verifies the integrity while installing).
    let prefix = src.path().join("consumer");
    std::fs::create_dir_all(&prefix).unwrap();
    tool(&mut npm_cmd(&[
        "install",
        &format!("{name}@1.1.0"),
        "--prefix",
        prefix.to_str().unwrap(),
        "--registry",
        &npm.url,
        "--no-audit",
        "--no-fund",
    ]));
    assert_holds(
        &prefix.join(format!("node_modules/{name}/index.js")),
        "module.exports = 42;\n",
    );
}

#[tokio::test]
async fn a_real_python_build_of_a_prerelease_is_published_and_pip_installs_it() {
    let Some(py) = pypiserver() else { return };
    let Some(python) = crate::helpers::require(
        "a Python with build and setuptools (STEVEDORE_TEST_PYTHON, set by .ci/run)",
        std::env::var("STEVEDORE_TEST_PYTHON").ok(),
    ) else {
        return;
    };
    let gh = FakeGithub::start().await;
    let base = gh.seed_commits("main", &["feat: a"]);
    gh.set_ref("refs/tags/v1.0.0", &base[0]);
    gh.set_ref("refs/heads/dev", &base[0]);
    let head = gh.seed_commits("dev", &["feat: b"]).remove(0);
    let name = unique("realpy").replace('-', "_");
    let src = tempfile::tempdir().unwrap();
    // The example workflow writes the SemVer prerelease as is; the build backend normalises it.
    std::fs::write(
        src.path().join("pyproject.toml"),
        format!(
            "[build-system]\nrequires = [\"setuptools>=61\"]\nbuild-backend = \"setuptools.build_meta\"\n\n[project]\nname = \"{name}\"\nversion = \"1.1.0-dev.1\"\ndescription = \"stevedore test\"\nrequires-python = \">=3.8\"\n\n[tool.setuptools]\npy-modules = [\"{name}\"]\n"
        ),
    )
    .unwrap();
    std::fs::write(src.path().join(format!("{name}.py")), "ANSWER = 42\n").unwrap();
    tool(
        std::process::Command::new(&python)
            .args(["-m", "build", "--no-isolation", "--outdir", "dist"])
            .current_dir(src.path()),
    );
    let mut files = Vec::new();
    for e in std::fs::read_dir(src.path().join("dist")).unwrap() {
        let e = e.unwrap();
        files.push((
            format!("dist/{}", e.file_name().to_string_lossy()),
            std::fs::read(e.path()).unwrap(),
        ));
    }
    assert_eq!(files.len(), 2, "{files:?}");
    let r = step(&gh, "dev", &head, &files)
        .input("packages", "dist/*.whl, dist/*.tar.gz")
        .input("pypi-repository", &format!("{}/", py.url))
        .input("pypi-token", &py.token)
        .exits(0)
        .await;
    assert_eq!(r.output("version"), Some("1.1.0-dev.1"));
    assert_eq!(outcomes(&r), ["uploaded", "uploaded"]);
    assert!(packages(&r).iter().all(|p| p["version"] == "1.1.0.dev1"));
    // pip finds it under its PEP 440 version, checks the sha256 the index lists, and installs the wheel.
    let target = src.path().join("site");
    tool(
        std::process::Command::new(&python)
            .args(["-m", "pip", "install", "--no-deps", "--no-cache-dir"])
            .args(["--disable-pip-version-check", "--only-binary", ":all:"])
            .args(["--index-url", &format!("{}/simple/", py.url), "--target"])
            .arg(&target)
            .arg(format!("{name}==1.1.0.dev1")),
    );
    assert_holds(&target.join(format!("{name}.py")), "ANSWER = 42\n");
}

/// The binary itself, as a process, with step debug logging on: the exchanged npm token is masked on
/// stdout before anything else could print it, and never reaches stderr (the logs).
#[tokio::test]
async fn the_exchanged_token_is_never_printed_by_the_binary_stdout_or_stderr() {
    let Some(npm) = verdaccio() else { return };
    let real = npm.token().await;
    let front = Front::trusting(&npm.url, "octo-org/octo-repo", "npm:127.0.0.1", &real).await;
    let oidc = FakeOidc::start(Settings::default()).await;
    let gh = FakeGithub::start().await;
    let head = repo_at_1_1_0(&gh);
    let name = unique("proc");
    let dir = tempfile::tempdir().unwrap();
    let ws = dir.path().join("ws");
    std::fs::create_dir_all(ws.join("dist")).unwrap();
    std::fs::write(ws.join("dist/p.tgz"), npm_tgz(&name, "1.1.0", "p")).unwrap();
    let (summary, output) = (dir.path().join("summary.md"), dir.path().join("output"));
    std::fs::write(&summary, "").unwrap();
    std::fs::write(&output, "").unwrap();
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_stevedore"))
        .env_clear()
        .envs([
            ("GITHUB_ACTIONS", "true"),
            ("CI", "true"),
            ("RUNNER_DEBUG", "1"),
            ("GITHUB_REPOSITORY", "octo-org/octo-repo"),
            ("GITHUB_SHA", head.as_str()),
            ("GITHUB_REF", "refs/heads/main"),
            ("GITHUB_REF_NAME", "main"),
            ("GITHUB_REF_TYPE", "branch"),
            ("GITHUB_EVENT_NAME", "push"),
            ("GITHUB_API_URL", gh.url().as_str()),
            ("GITHUB_SERVER_URL", "https://github.com"),
            ("INPUT_MODE", "publish"),
            ("INPUT_GITHUB-TOKEN", "ghs_faketoken1234"),
            ("INPUT_PACKAGES", "dist/*.tgz"),
            ("INPUT_NPM-REGISTRY", front.url.as_str()),
            ("ACTIONS_ID_TOKEN_REQUEST_URL", oidc.request_url().as_str()),
            (
                "ACTIONS_ID_TOKEN_REQUEST_TOKEN",
                crate::helpers::fake_oidc::REQUEST_TOKEN,
            ),
            ("STEVEDORE_OIDC_ISSUER", oidc.issuer()),
        ])
        .env("GITHUB_WORKSPACE", &ws)
        .env("GITHUB_STEP_SUMMARY", &summary)
        .env("GITHUB_OUTPUT", &output)
        .current_dir(&ws)
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    assert_eq!(
        npm.tarball(&name, "1.1.0").await,
        npm_tgz(&name, "1.1.0", "p")
    );
    let jwt = oidc.minted().pop().unwrap();
    for secret in [real.as_str(), jwt.as_str()] {
        let mask = format!("::add-mask::{secret}");
        let first = stdout.lines().position(|l| l == mask);
        assert!(first.is_some(), "not masked: {stdout}");
        assert!(
            stdout.lines().all(|l| !l.contains(secret) || l == mask),
            "{stdout}"
        );
        lacks(&stderr, secret);
        assert!(!std::fs::read_to_string(&summary).unwrap().contains(secret));
        assert!(!std::fs::read_to_string(&output).unwrap().contains(secret));
    }
    assert!(stderr.contains("uploaded"), "debug logs ran: {stderr}");
}

/// The answer to an upload that went through is lost (503): the request is retried, the registry refuses the
/// second copy (pypiserver: 409), and publish reads the index again and finds the same file — done, not failed.
#[tokio::test]
async fn a_lost_upload_answer_is_retried_and_the_refusal_of_the_copy_is_checked_against_the_index()
{
    let Some(t) = OneSdist::start("lost").await else {
        return;
    };
    t.front.lose_next_answers(1);
    let r = t.step().exits(0).await;
    assert_eq!(t.front.uploads(), 2, "the upload was sent twice");
    assert_eq!(outcomes(&r), ["already-there"]);
    assert_eq!(t.py.download(&t.sdist_name).await, t.files[0].1);
}

// ---- hostile registries (issue 25): the audience and the exchange URL are stevedore's, never a server's ----

/// Requests a [`Scripted`] server saw: (`METHOD path`, `authorization` header, body).
type Seen = std::sync::Arc<std::sync::Mutex<Vec<(String, String, String)>>>;
/// The answer to `(method, path)`: status, extra headers, body.
type Script =
    std::sync::Arc<dyn Fn(&str, &str) -> (u16, Vec<(String, String)>, String) + Send + Sync>;

/// A registry on loopback that answers from a script and records every request.
struct Scripted {
    url: String,
    seen: Seen,
}

impl Scripted {
    async fn start(
        script: impl Fn(&str, &str) -> (u16, Vec<(String, String)>, String) + Send + Sync + 'static,
    ) -> Self {
        use axum::body::Bytes;
        use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let seen = Seen::default();
        let script: Script = std::sync::Arc::new(script);
        let log = seen.clone();
        let app = axum::Router::new().fallback(
            move |method: Method, uri: Uri, headers: HeaderMap, body: Bytes| {
                let (log, script) = (log.clone(), script.clone());
                async move {
                    let auth = headers
                        .get("authorization")
                        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
                        .unwrap_or_default();
                    log.lock().unwrap().push((
                        format!("{method} {}", uri.path()),
                        auth,
                        String::from_utf8_lossy(&body).into_owned(),
                    ));
                    let (status, extra, text) = script(method.as_str(), uri.path());
                    let mut h = HeaderMap::new();
                    h.insert("content-type", HeaderValue::from_static("application/json"));
                    for (k, v) in extra {
                        h.insert(
                            HeaderName::from_bytes(k.as_bytes()).unwrap(),
                            HeaderValue::from_str(&v).unwrap(),
                        );
                    }
                    (StatusCode::from_u16(status).unwrap(), h, text)
                }
            },
        );
        tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Self { url, seen }
    }

    fn seen(&self) -> Vec<(String, String, String)> {
        self.seen.lock().unwrap().clone()
    }

    fn paths(&self) -> Vec<String> {
        self.seen().into_iter().map(|(p, _, _)| p).collect()
    }
}

fn not_found() -> (u16, Vec<(String, String)>, String) {
    (404, Vec::new(), r#"{"error":"not found"}"#.into())
}

/// An index answering `/_/oidc/audience` with `sts.amazonaws.com` (or any audience it likes) gets no token:
/// stevedore requests the token for the audience it decided itself (`pypi-audience` here), compares, and
/// refuses before the OIDC token is fetched; without `pypi-audience` it takes no audience from the index.
#[tokio::test]
async fn an_index_choosing_the_oidc_audience_gets_no_token_and_nothing_is_written() {
    let gh = FakeGithub::start().await;
    let head = repo_at_1_1_0(&gh);
    let oidc = FakeOidc::start(Settings::default()).await;
    let name = unique("aud");
    let files = py_files(&name, "1.1.0", "A = 1\n");
    for asked in [
        "sts.amazonaws.com",
        "npm:registry.npmjs.org",
        "other.loopback",
    ] {
        let answer = asked.to_owned();
        let index = Scripted::start(move |method, path| match (method, path) {
            ("GET", "/_/oidc/audience") => {
                (200, Vec::new(), format!(r#"{{"audience":"{answer}"}}"#))
            }
            ("POST", "/_/oidc/mint-token") => {
                (200, Vec::new(), r#"{"token":"pypi-stolen"}"#.into())
            }
            _ => not_found(),
        })
        .await;
        for audience in [Some("pypi.loopback"), None] {
            let mut s = oidc
                .apply(step(&gh, "main", &head, &files))
                .input("packages", "dist/*")
                .input("pypi-repository", &format!("{}/legacy/", index.url));
            if let Some(a) = audience {
                s = s.input("pypi-audience", a);
            }
            let r = s.run().await;
            assert_eq!(r.code, 1, "{asked} {audience:?}: {}", r.stdout);
            has(&r.stdout, "::error");
            assert!(
                r.stdout.contains(&index.url),
                "names the index: {}",
                r.stdout
            );
            assert!(
                r.stdout.contains(&format!("asks for `{asked}`"))
                    || r.stdout.contains(&format!("audience `{asked}`")),
                "names what it asked for: {}",
                r.stdout
            );
            has(&r.stdout, "no token was requested");
            if asked == "other.loopback" {
                assert!(
                    r.stdout.contains("pypi-audience: other.loopback"),
                    "the fix for one's own index: {}",
                    r.stdout
                );
            } else {
                has(&r.stdout, "another service's audience");
            }
        }
        assert_eq!(oidc.token_requests(), 0, "no OIDC token was requested");
        assert!(oidc.minted().is_empty());
        assert!(
            !index.paths().iter().any(|p| p.contains("mint-token")),
            "{:?}",
            index.paths()
        );
    }
    assert!(gh.releases().is_empty());

    // Another service's audience cannot be configured for an index either: refused as input (exit 2).
    for bad in ["sts.amazonaws.com", "pypi", "npm:registry.npmjs.org"] {
        let r = oidc
            .apply(step(&gh, "main", &head, &files))
            .input("packages", "dist/*")
            .input("pypi-repository", "https://pypi.example.com/legacy/")
            .input("pypi-audience", bad)
            .run()
            .await;
        assert_eq!(r.code, 2, "{bad}: {}", r.stdout);
        has(&r.stdout, "`pypi-audience`");
    }
    // The configured STS audience as well.
    oidc.apply(step(&gh, "main", &head, &files))
        .input("packages", "dist/*")
        .input("pypi-repository", "https://pypi.example.com/legacy/")
        .input("audience", "my-sts-audience")
        .input("pypi-audience", "my-sts-audience")
        .exits(2)
        .await;
    assert_eq!(oidc.token_requests(), 0);
    assert!(gh.releases().is_empty());
    gh.assert_no_violations();
}

/// The trusted-publishing requests follow no redirect: an exchange URL answering 307/308 (or the audience
/// URL answering 302) to another origin is refused naming both URLs, and the other origin never sees a
/// request, let alone the JWT.
#[tokio::test]
async fn exchange_requests_follow_no_redirect_and_the_jwt_never_reaches_another_origin() {
    let gh = FakeGithub::start().await;
    let head = repo_at_1_1_0(&gh);
    let oidc = FakeOidc::start(Settings::default()).await;
    let elsewhere = Scripted::start(|method, path| match (method, path) {
        ("GET", "/_/oidc/audience") => (200, Vec::new(), r#"{"audience":"pypi.loopback"}"#.into()),
        _ => (200, Vec::new(), r#"{"token":"from-elsewhere"}"#.into()),
    })
    .await;
    let py = py_files(&unique("redir"), "1.1.0", "R = 1\n");
    let npm_name = unique("redir");
    let npm = vec![("dist/r.tgz".to_owned(), npm_tgz(&npm_name, "1.1.0", "r"))];
    let cases = [
        ("pypi", "/_/oidc/mint-token", 307),
        ("pypi", "/_/oidc/mint-token", 308),
        ("pypi", "/_/oidc/audience", 302),
        ("npm", "/-/npm/v1/oidc/token/exchange/package/", 307),
        ("npm", "/-/npm/v1/oidc/token/exchange/package/", 308),
    ];
    for (registry, redirecting, status) in cases {
        let target = format!("{}{redirecting}", elsewhere.url);
        let registry_srv = Scripted::start(move |method, path| {
            if path.starts_with(redirecting) {
                return (
                    status,
                    vec![("location".into(), target.clone())],
                    String::new(),
                );
            }
            match (method, path) {
                ("GET", "/_/oidc/audience") => {
                    (200, Vec::new(), r#"{"audience":"pypi.loopback"}"#.into())
                }
                _ => not_found(),
            }
        })
        .await;
        let s = match registry {
            "pypi" => oidc
                .apply(step(&gh, "main", &head, &py))
                .input("packages", "dist/*")
                .input("pypi-repository", &format!("{}/legacy/", registry_srv.url))
                .input("pypi-audience", "pypi.loopback"),
            _ => oidc
                .apply(step(&gh, "main", &head, &npm))
                .input("packages", "dist/*.tgz")
                .input("npm-registry", &registry_srv.url),
        };
        let r = s.run().await;
        let case = format!("{registry} {redirecting} {status}");
        assert_eq!(r.code, 1, "{case}: {}", r.stdout);
        assert!(
            r.stdout.contains(&format!(
                "answered HTTP {status} redirecting to `{}",
                elsewhere.url
            )),
            "{case}: {}",
            r.stdout
        );
        assert!(r.stdout.contains(&registry_srv.url), "{case}: {}", r.stdout);
        assert!(
            registry_srv.paths().iter().any(|p| p.contains(redirecting)),
            "{case}: the request was made: {:?}",
            registry_srv.paths()
        );
        assert!(
            elsewhere.seen().is_empty(),
            "{case}: the other origin got {:?}",
            elsewhere.seen()
        );
        assert!(gh.releases().is_empty());
    }
    // The JWTs minted went to the registry's own origin only.
    for jwt in oidc.minted() {
        assert!(
            elsewhere
                .seen()
                .iter()
                .all(|(_, a, b)| !a.contains(&jwt) && !b.contains(&jwt))
        );
    }
    gh.assert_no_violations();
}

// ---- a registry away for a few seconds (issue 28) ----------------------------------------------------

/// One sdist of a new project to upload through a [`Front`] before pypiserver, from a repository whose
/// computed version is 1.1.0: what the retry tests share.
struct OneSdist {
    py: crate::helpers::registries::PypiServer,
    front: Front,
    gh: FakeGithub,
    head: String,
    name: String,
    sdist_name: String,
    files: Vec<(String, Vec<u8>)>,
}

impl OneSdist {
    async fn start(prefix: &str) -> Option<Self> {
        let py = pypiserver()?;
        let front = Front::trusting(&py.url, "octo-org/octo-repo", "pypi", &py.token).await;
        let gh = FakeGithub::start().await;
        let head = repo_at_1_1_0(&gh);
        let name = unique(prefix);
        let (sdist_name, _) = python_files(&name, "1.1.0");
        let files = vec![(
            format!("dist/{sdist_name}"),
            sdist(&name, "1.1.0", "X = 1\n"),
        )];
        Some(Self {
            py,
            front,
            gh,
            head,
            name,
            sdist_name,
            files,
        })
    }

    /// The publish step uploading it with `pypi-token`.
    fn step(&self) -> Step {
        step(&self.gh, "main", &self.head, &self.files)
            .input("packages", "dist/*")
            .input("pypi-repository", &format!("{}/", self.front.url))
            .input("pypi-token", &self.py.token)
    }
}

/// The registry answers every upload `503` for 3 s (a restart), after the tag and release were written:
/// the upload is retried over seconds with the product's own backoff (about 1 s, 2 s, 4 s) and the release
/// completes. Real seconds: nothing in the test shortens the schedule.
#[tokio::test]
async fn a_registry_away_for_three_seconds_is_waited_out_and_the_release_completes() {
    let Some(t) = OneSdist::start("away").await else {
        return;
    };
    t.front
        .outage_at_first_upload(std::time::Duration::from_secs(3));
    let r = t.step().run().await;
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.summary);
    assert_eq!(outcomes(&r), ["uploaded"]);
    // The first attempt and one or two retries fell into the outage (waits of 0.5–1 s, then 1–2 s, then
    // 2–4 s: 3 s is over by the third or fourth attempt); the last one went through.
    let refused = t.front.unavailable();
    assert!(
        (2..=3).contains(&refused),
        "{refused} attempts answered 503"
    );
    assert_eq!(t.front.uploads(), 1);
    assert_eq!(t.py.download(&t.sdist_name).await, t.files[0].1);
    assert_eq!(t.gh.releases().len(), 1);
    t.gh.assert_no_violations();
}

/// The runner cancels the step while publish waits to retry an upload: the wait ends at the signal, no
/// further attempt is sent, and the step fails as cancelled, saying where it stopped.
#[tokio::test]
async fn a_cancel_during_the_upload_backoff_ends_the_wait_and_sends_nothing_more() {
    let Some(t) = OneSdist::start("cancelled").await else {
        return;
    };
    let (handle, cancel) = stevedore::cancel::pair();
    t.front
        .outage_then_cancel(std::time::Duration::from_secs(60), handle);
    let r = t.step().run_with_cancel(cancel).await;
    assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.summary);
    // The mode's own wait ended at the signal (not `app` dropping the mode 1 s later).
    assert!(
        r.summary
            .contains("cancelled by SIGTERM while waiting to retry"),
        "{}",
        r.summary
    );
    assert!(
        r.stdout
            .lines()
            .any(|l| l.starts_with("::error") && l.contains("Cancelled by SIGTERM")),
        "{}",
        r.stdout
    );
    // Give a stray retry time to arrive: there is none.
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    assert_eq!(t.front.unavailable(), 1, "no attempt after the first");
    assert_eq!(t.front.uploads(), 0);
    assert!(t.py.simple(&t.name).await.is_none());
}
