//! What makes dist/ verifiable (issue 32), as configured in the repository: the small crate CI proves
//! reproducible is built with stevedore's own dist profile, release.yml releases only after the rebuild
//! and attests both binaries with a SHA-pinned action, and the docs' verification commands and pinning
//! configurations are the ones that work. The builds themselves are proven by scripts/check-repro.sh and
//! scripts/check-dist.sh --rebuild, which .ci/run runs (docs/releasing.md "Reproducible dist/").

use std::collections::BTreeMap;

use serde_yaml_ng::Value;

use crate::helpers::runner::repo_root;

fn read(path: &str) -> String {
    std::fs::read_to_string(repo_root().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The `key = value` lines of one `[table]` of a Cargo.toml, comments dropped.
fn toml_table(text: &str, table: &str) -> BTreeMap<String, String> {
    let header = format!("[{table}]");
    let mut lines = text.lines().skip_while(|l| l.trim() != header);
    assert!(lines.next().is_some(), "no {header}");
    lines
        .take_while(|l| !l.trim_start().starts_with('['))
        .filter_map(|l| {
            let l = l.split('#').next().unwrap_or_default().trim();
            let (k, v) = l.split_once('=')?;
            Some((k.trim().to_owned(), v.trim().to_owned()))
        })
        .collect()
}

#[test]
fn tests_repro_has_the_dist_profile_of_stevedore() {
    let ours = read("Cargo.toml");
    let repro = read("tests/repro/Cargo.toml");
    for table in ["profile.release", "profile.dist"] {
        let a = toml_table(&ours, table);
        assert!(!a.is_empty(), "Cargo.toml [{table}] is empty");
        assert_eq!(
            a,
            toml_table(&repro, table),
            "[{table}] differs between Cargo.toml and tests/repro"
        );
    }
    // Every codegen setting of the dist profile is spelled out, not left to a default or the environment.
    let dist = toml_table(&ours, "profile.dist");
    for key in [
        "opt-level",
        "lto",
        "codegen-units",
        "incremental",
        "debug",
        "strip",
    ] {
        assert!(dist.contains_key(key), "[profile.dist] does not fix {key}");
    }
    assert_eq!(dist["codegen-units"], "1");
    assert_eq!(dist["incremental"], "false");
}

fn release_yml() -> Value {
    serde_yaml_ng::from_str(&read(".github/workflows/release.yml")).unwrap()
}

fn steps(job: &Value) -> &Vec<Value> {
    job["steps"].as_sequence().unwrap()
}

/// The first step of `job` whose `key:` is a string that `pred` accepts.
fn step_whose<'a>(job: &'a Value, key: &str, pred: impl Fn(&str) -> bool) -> Option<&'a Value> {
    steps(job)
        .iter()
        .find(|s| s.get(key).and_then(Value::as_str).is_some_and(&pred))
}

/// The paths release.yml attests, and the full `uses:` line of the attestation step.
fn attested() -> (Vec<String>, String) {
    let wf = release_yml();
    let step = step_whose(&wf["jobs"]["provenance"], "uses", |u| {
        u.starts_with("actions/attest-build-provenance@")
    })
    .expect("release.yml's provenance job attests with actions/attest-build-provenance");
    let paths = step["with"]["subject-path"]
        .as_str()
        .unwrap()
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect();
    let line = read(".github/workflows/release.yml")
        .lines()
        .find(|l| l.contains("uses: actions/attest-build-provenance@"))
        .unwrap()
        .trim()
        .to_owned();
    (paths, line)
}

#[test]
fn release_yml_attests_both_binaries_with_a_sha_pinned_action_after_a_release() {
    let wf = release_yml();
    let job = &wf["jobs"]["provenance"];
    assert_eq!(job["needs"].as_str(), Some("release"));
    assert_eq!(
        job["if"].as_str(),
        Some("needs.release.outputs.released == 'true'")
    );
    let perms = job["permissions"].as_mapping().unwrap();
    for (k, v) in [
        ("id-token", "write"),
        ("attestations", "write"),
        ("contents", "write"),
    ] {
        assert_eq!(
            perms.get(k).and_then(Value::as_str),
            Some(v),
            "permission {k}"
        );
    }
    assert_eq!(perms.len(), 3, "no other permission: {perms:?}");
    let (paths, line) = attested();
    assert_eq!(paths, ["dist/amd64/stevedore", "dist/arm64/stevedore"]);
    // v4.1.0 of actions/attest-build-provenance is commit a2bbfa2 (its tag, read from the repository).
    assert_eq!(
        line,
        "uses: actions/attest-build-provenance@a2bbfa25375fe432b6a289bc6b6cd05ecd0c4c32 # v4.1.0"
    );
    // The SBOMs are made from both binaries and attached to the release.
    let run: String = steps(job)
        .iter()
        .filter_map(|s| s.get("run").and_then(Value::as_str))
        .collect();
    assert!(
        run.contains("python3 scripts/sbom.py --version \"$VERSION\" \"dist/$arch/stevedore\"")
    );
    assert!(run.contains(
        "gh release upload \"$TAG\" sbom/stevedore-amd64.cdx.json sbom/stevedore-arm64.cdx.json"
    ));
}

#[test]
fn release_yml_tags_and_moves_v1_only_after_rebuilding_dist_from_the_sources() {
    let wf = release_yml();
    let release = &wf["jobs"]["release"];
    assert_eq!(release["needs"].as_str(), Some("dist"));
    let cond = release["if"].as_str().unwrap();
    assert!(
        cond.starts_with("needs.dist.outputs.stale != 'true'"),
        "{cond}"
    );
    let dist = &wf["jobs"]["dist"];
    assert_eq!(
        dist["outputs"]["stale"].as_str(),
        Some("${{ steps.hash.outputs.stale }}")
    );
    let rebuild = step_whose(dist, "run", |r| {
        r.contains("scripts/check-dist.sh --rebuild")
    })
    .expect("the dist job rebuilds dist/");
    let run = rebuild["run"].as_str().unwrap();
    assert!(run.contains("bash scripts/dist-in-bookworm.sh bash scripts/check-dist.sh --rebuild"));
    // Runs whenever dist/ claims to be this commit's build; a failed comparison fails the job, and the
    // release job (needs: dist) then does not run: nothing is tagged, v1 does not move.
    assert_eq!(
        rebuild["if"].as_str(),
        Some("${{ !env.ACT && steps.hash.outputs.stale == 'false' }}")
    );
}

#[test]
fn every_action_the_workflows_use_is_pinned_by_full_commit_sha_with_its_version() {
    for wf in [".github/workflows/release.yml", ".github/workflows/ci.yml"] {
        for line in read(wf).lines() {
            let t = line.trim().trim_start_matches("- ").trim();
            let Some(uses) = t.strip_prefix("uses:") else {
                continue;
            };
            let uses = uses.trim();
            if uses.starts_with("./") {
                continue;
            }
            let (action, comment) = uses.split_once(" # ").unwrap_or((uses, ""));
            let sha = action.split_once('@').map_or("", |(_, r)| r);
            assert!(
                sha.len() == 40 && sha.chars().all(|c| c.is_ascii_hexdigit()),
                "{wf}: `{t}` is not pinned by a full commit SHA"
            );
            assert!(
                comment.starts_with('v'),
                "{wf}: `{t}` has no version comment"
            );
        }
    }
}

#[test]
fn the_documented_verification_commands_name_what_release_yml_attests() {
    let (paths, _) = attested();
    let mut seen = Vec::new();
    for doc in ["README.md", "docs/releasing.md"] {
        for line in read(doc).lines() {
            let Some(rest) = line.trim().strip_prefix("gh attestation verify ") else {
                continue;
            };
            let words: Vec<&str> = rest.split_whitespace().collect();
            assert_eq!(
                words.len(),
                3,
                "{doc}: `{line}`: expected FILE --repo ORG/stevedore"
            );
            assert!(
                paths.iter().any(|p| p == words[0]),
                "{doc}: `{line}` names a file release.yml does not attest"
            );
            assert_eq!(&words[1..], ["--repo", "ORG/stevedore"], "{doc}: `{line}`");
            seen.push(words[0].to_owned());
        }
    }
    for p in &paths {
        assert!(seen.contains(p), "no doc shows how to verify {p}");
    }
    // The rebuild the docs show is the one release.yml and .ci/run run.
    let releasing = read("docs/releasing.md");
    assert!(
        releasing
            .contains("\nbash scripts/dist-in-bookworm.sh bash scripts/check-dist.sh --rebuild\n")
    );
    assert!(
        read(".ci/run")
            .contains("bash scripts/dist-in-bookworm.sh bash scripts/check-dist.sh --rebuild")
    );
}

/// The fenced blocks of one language in a Markdown file.
fn fenced(md: &str, lang: &str) -> Vec<String> {
    let open = format!("```{lang}");
    let mut out = Vec::new();
    let mut cur: Option<String> = None;
    for line in md.lines() {
        let t = line.trim();
        cur = match cur.take() {
            None => (t == open).then(String::new),
            Some(text) if t == "```" => {
                out.push(text);
                None
            }
            Some(mut text) => {
                text.push_str(line);
                text.push('\n');
                Some(text)
            }
        };
    }
    out
}

#[test]
fn the_documented_dependabot_and_renovate_configs_pin_actions_by_sha() {
    let md = read("docs/releasing.md");
    let renovate: Vec<serde_json::Value> = fenced(&md, "json")
        .iter()
        .map(|b| serde_json::from_str(b).unwrap())
        .collect();
    assert_eq!(renovate.len(), 1, "one renovate.json in docs/releasing.md");
    let extends = renovate[0]["extends"].as_array().unwrap();
    assert!(
        extends
            .iter()
            .any(|e| e == "helpers:pinGitHubActionDigests")
    );
    let dependabot: Vec<Value> = fenced(&md, "yaml")
        .iter()
        .map(|b| serde_yaml_ng::from_str::<Value>(b).unwrap())
        .filter(|v| v.get("updates").is_some())
        .collect();
    assert_eq!(
        dependabot.len(),
        1,
        "one dependabot.yml in docs/releasing.md"
    );
    assert_eq!(dependabot[0]["version"].as_u64(), Some(2));
    let update = &dependabot[0]["updates"][0];
    assert_eq!(update["package-ecosystem"].as_str(), Some("github-actions"));
    assert_eq!(update["directory"].as_str(), Some("/"));
    assert!(update["schedule"]["interval"].as_str().is_some());
}
