//! `promote-from` (docs/promotion.md): a deploy step puts in place exactly what another environment's
//! latest GitHub Deployment of the same target line records — Lambda on moto, ECS and ECS Express on the
//! scripted ECS endpoint, App Runner on the scripted App Runner endpoint — with the fake GitHub that checks
//! every request and answer against GitHub's OpenAPI description. The source's release is verified like a
//! rollback's (its commit against the trigger policy of both environments and its ref, its artifact
//! against the target) and refused, with the reason, when it failed, is in progress or does not check out.

use serde_json::{Value, json};

use crate::ecs::{error_lines, fake_with, step_for};
use crate::helpers::deploy::states;
use crate::helpers::fake_ecs::{Behaviour, FakeEcs};
use crate::helpers::fake_github::FakeGithub;
use crate::helpers::run::{Step, StepResult};
use crate::rollback::{app_runner_step, complete, express_step, image, last_deployment, ok};

const SHA_A: &str = "aaaaaaa1aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
const SHA_B: &str = "bbbbbbb2bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
const SHA_C: &str = "ccccccc3cccccccccccccccccccccccccccccccc";
/// On branch `feature/x` only.
const SHA_E: &str = "eeeeeee5eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee";

/// SHA_A to SHA_C on `main`; SHA_E on `feature/x`.
fn history(gh: &FakeGithub) {
    let mut parents: Vec<&str> = Vec::new();
    for sha in [SHA_A, SHA_B, SHA_C] {
        gh.seed_commit(sha, "feat: a change", &parents);
        parents = vec![sha];
    }
    gh.set_ref("refs/heads/main", SHA_C);
    gh.seed_commit(SHA_E, "feat: elsewhere", &[SHA_A]);
    gh.set_ref("refs/heads/feature/x", SHA_E);
}

/// `step` run for commit `sha` in `environment`; `main` may deploy to `dev` and `staging`.
fn at(step: Step, gh: &FakeGithub, sha: &str, environment: &str) -> Step {
    step.input("environment", environment)
        .input(
            "trigger-policy",
            "dev: [refs/heads/main]\nstaging: [refs/heads/main]",
        )
        .input("github-token", "ghs_faketoken0123456789")
        .var("GITHUB_API_URL", &gh.url())
        .var("GITHUB_SHA", sha)
}

/// The step was refused with exit 2 and an `::error` containing every one of `needles`.
fn refused(r: &StepResult, needles: &[&str]) {
    assert_eq!(r.code, 2, "{}\n{}", r.stdout, r.summary);
    let errors = error_lines(&r.stdout);
    assert!(
        errors.iter().any(|e| needles.iter().all(|n| e.contains(n))),
        "no ::error with {needles:?}:\n{}",
        r.stdout
    );
}

/// Creates a deployment of `sha` to `environment` with `payload` and `state`, with another token,
/// through the fake GitHub's REST API (anyone with `deployments: write` can); its id.
async fn forge(gh: &FakeGithub, environment: &str, sha: &str, payload: Value, state: &str) -> u64 {
    let other = gh.client_as("ghp_other0123456789abcdefghijklmnopqrs");
    let d = other
        .post(
            "/repos/octo-org/octo-repo/deployments",
            &json!({
                "ref": sha, "environment": environment, "auto_merge": false,
                "required_contexts": [], "payload": payload,
            }),
        )
        .await
        .unwrap();
    let id = d["id"].as_u64().unwrap_or_else(|| panic!("{d}"));
    other
        .post(
            &format!("/repos/octo-org/octo-repo/deployments/{id}/statuses"),
            &json!({ "state": state }),
        )
        .await
        .unwrap();
    id
}

/// The new deployment records the source's artifact as this target's, promoted from `dev`'s
/// deployment `source`, for the source's commit, and succeeded.
fn promoted_record(gh: &FakeGithub, source: &Value, target: &Value) {
    let d = last_deployment(gh);
    assert_eq!(d["environment"], "staging", "{d}");
    assert_eq!(d["sha"], source["sha"], "{d}");
    assert_eq!(d["payload"]["promoted_from"], "dev", "{d}");
    assert_eq!(d["payload"]["restored_from"], source["id"], "{d}");
    assert_eq!(d["payload"]["version"], source["payload"]["version"], "{d}");
    assert_eq!(d["payload"]["ref"], "refs/heads/main", "{d}");
    assert_eq!(&d["payload"]["target"], target, "{d}");
    assert_eq!(
        states(gh, d["id"].as_u64().unwrap()),
        ["in_progress", "success"]
    );
}

#[tokio::test]
async fn lambda_promotion_moves_this_alias_to_the_source_version_and_refuses_failed_in_progress_and_unverified_sources()
 {
    let gh = FakeGithub::start_for("octo-org/octo-repo").await;
    history(&gh);
    let Some(rig) = crate::lambda::Rig::new("promote").await else {
        return;
    };
    // dev: A is published as version 2 behind alias `dev`; staging's `live` is on version 1.
    let a = at(rig.step(Some("a")).input("alias", "dev"), &gh, SHA_A, "dev")
        .run()
        .await;
    ok(&a);
    let dep_a = last_deployment(&gh);
    assert_eq!(dep_a["payload"]["target"]["version"], "2", "{dep_a}");
    assert_eq!(rig.alias().await.0, "1");

    // Dry run: names the source and the version, moves nothing, records nothing.
    let deployments = gh.deployments().len();
    let dry = at(rig.step(None), &gh, SHA_C, "staging")
        .input("promote-from", "dev")
        .input("dry-run", "true")
        .run()
        .await;
    ok(&dry);
    assert_eq!(dry.output("promoted-version"), Some(SHA_A));
    assert!(
        dry.summary
            .contains("Would promote the release of environment `dev` to `staging`"),
        "{}",
        dry.summary
    );
    assert!(
        dry.summary.contains("Lambda version 2 (code SHA-256")
            && dry.summary.contains(
                "Promotion from `dev` (dry run): would move alias `live` to version 2 as recorded"
            ),
        "{}",
        dry.summary
    );
    assert_eq!(rig.alias().await.0, "1");
    assert_eq!(gh.deployments().len(), deployments);

    // The promotion: `live` moves to version 2 — nothing is updated or published.
    let p = at(rig.step(None), &gh, SHA_C, "staging")
        .input("promote-from", "dev")
        .run()
        .await;
    ok(&p);
    assert_eq!(rig.alias().await, ("2".to_owned(), None));
    assert_eq!(p.output("promoted-version"), Some(SHA_A));
    assert_eq!(
        p.output("promoted-deployment-id"),
        Some(dep_a["id"].to_string().as_str())
    );
    let mut target = dep_a["payload"]["target"].clone();
    target["alias"] = json!("live");
    promoted_record(&gh, &dep_a, &target);
    assert_eq!(
        versions(&rig.lambda, &rig.function).await,
        3,
        "$LATEST, 1, 2: nothing published"
    );

    // dev: B fails its health check (version 3, alias `dev` back on 2): its latest deployment failed.
    let sick = crate::lambda::health_server(503).await;
    let b = at(rig.step(Some("b")).input("alias", "dev"), &gh, SHA_B, "dev")
        .input("health-url", &sick.url)
        .run()
        .await;
    assert_eq!(b.code, 1, "{}\n{}", b.stdout, b.summary);
    let dep_b = last_deployment(&gh);
    let promote = || {
        at(rig.step(None), &gh, SHA_C, "staging")
            .input("promote-from", "dev")
            .run()
    };
    refused(
        &promote().await,
        &[
            "input `promote-from`",
            &format!(
                "#{} (`{SHA_B}`), failed (statuses in_progress → failure)",
                dep_b["id"]
            ),
        ],
    );

    // A deployment still in progress in dev (newest): refused, it is not proven yet.
    let hash = dep_a["payload"]["target"]["code_sha256"].clone();
    let record = |version: &str, sha: &str, git_ref: &str| {
        json!({"ref": git_ref, "version": sha, "target": {"kind": "lambda",
            "function": rig.function, "alias": "dev", "version": version, "code_sha256": hash}})
    };
    let busy = forge(
        &gh,
        "dev",
        SHA_C,
        record("2", SHA_C, "refs/heads/main"),
        "in_progress",
    )
    .await;
    refused(
        &promote().await,
        &[&format!("#{busy} (`{SHA_C}`), is still in progress")],
    );

    // A "successful" record from a branch dev's policy does not allow: refused by the source's policy.
    let branch = forge(
        &gh,
        "dev",
        SHA_E,
        record("2", SHA_E, "refs/heads/feature/x"),
        "success",
    )
    .await;
    refused(
        &promote().await,
        &[
            &format!("#{branch} of `dev`"),
            "cannot be promoted",
            "feature/x",
        ],
    );

    // A "successful" record on main naming version 1 with version 2's code hash: the artifact does not
    // check out, never put behind the alias.
    let hash_lie = forge(
        &gh,
        "dev",
        SHA_C,
        record("1", SHA_C, "refs/heads/main"),
        "success",
    )
    .await;
    refused(
        &promote().await,
        &[&format!("#{hash_lie} of `dev`"), "cannot be put in place"],
    );
    assert_eq!(rig.alias().await, ("2".to_owned(), None));
    gh.assert_no_violations();
}

#[tokio::test]
async fn ecs_promotion_puts_the_source_task_definition_in_place_registering_nothing() {
    let gh = FakeGithub::start_for("octo-org/octo-repo").await;
    history(&gh);
    let (fake, _) = fake_with(&[("web", None)]).await;
    if step_for(&fake).is_none() {
        return;
    }
    let step = || step_for(&fake).unwrap();
    complete(&fake, 1);
    let a = at(step(), &gh, SHA_A, "dev")
        .input("image", &image('a'))
        .run()
        .await;
    ok(&a);
    let dep_a = last_deployment(&gh);
    let td_a = dep_a["payload"]["target"]["services"][0]["task_definition"]
        .as_str()
        .unwrap()
        .to_owned();
    complete(&fake, 1);
    ok(&at(step(), &gh, SHA_B, "staging")
        .input("image", &image('b'))
        .run()
        .await);
    assert_ne!(fake.service_task_definition("web"), td_a);

    // dev in another account (its `environments` entry): the release's image is not in that account's
    // registry (moto's `proxyEndpoint` for 111111111111), so nothing is copied or registered.
    let registers = fake.requests("RegisterTaskDefinition").len();
    refused(
        &at(step(), &gh, SHA_C, "staging")
            .input("image", "")
            .input("promote-from", "dev")
            .input(
                "environments",
                "dev: { role: 'arn:aws:iam::111111111111:role/deploy' }\nstaging: { role: 'arn:aws:iam::123456789012:role/deploy' }",
            )
            .run()
            .await,
        &[
            "input `promote-from`",
            &format!(
                "the image `{}` of `dev` is not in that environment's registry `111111111111.dkr.ecr.eu-west-1.amazonaws.com`",
                image('a')
            ),
        ],
    );
    assert_eq!(fake.requests("RegisterTaskDefinition").len(), registers);
    assert_ne!(fake.service_task_definition("web"), td_a);

    let registers = fake.requests("RegisterTaskDefinition").len();
    complete(&fake, 1);
    let p = at(step(), &gh, SHA_C, "staging")
        .input("image", "")
        .input("promote-from", "dev")
        .run()
        .await;
    ok(&p);
    assert_eq!(fake.service_task_definition("web"), td_a);
    assert_eq!(fake.requests("RegisterTaskDefinition").len(), registers);
    assert_eq!(p.output("task-definition-arn"), Some(td_a.as_str()));
    promoted_record(&gh, &dep_a, &dep_a["payload"]["target"]);
    fake.assert_no_protocol_errors();

    // Naming the step's own environment is refused; so is an image given with `promote-from`.
    refused(
        &at(step(), &gh, SHA_C, "staging")
            .input("image", "")
            .input("promote-from", "staging")
            .run()
            .await,
        &[
            "input `promote-from`",
            "the environment this step deploys to",
        ],
    );
    refused(
        &at(step(), &gh, SHA_C, "staging")
            .input("promote-from", "dev")
            .run()
            .await,
        &["input `image`", "is set together with `promote-from`"],
    );
    // An environment without a release of these services: nothing to promote.
    refused(
        &at(step(), &gh, SHA_C, "staging")
            .input("image", "")
            .input("promote-from", "qa")
            .run()
            .await,
        &["environment `qa` has no stevedore deployment of ECS"],
    );
    gh.assert_no_violations();
}

/// dev deploys image 1, staging image 2, then staging promotes from dev: the service (`live` reads its
/// image) runs image 1 again and the new deployment records `target`.
async fn promote_an_image(
    gh: &FakeGithub,
    step: impl Fn() -> Step,
    live: impl Fn() -> String,
    target: Value,
) {
    ok(&at(step(), gh, SHA_A, "dev")
        .input("image", &image('1'))
        .run()
        .await);
    let dep_a = last_deployment(gh);
    ok(&at(step(), gh, SHA_B, "staging")
        .input("image", &image('2'))
        .run()
        .await);
    assert_eq!(live(), image('2'));
    let p = at(step(), gh, SHA_C, "staging")
        .input("promote-from", "dev")
        .run()
        .await;
    ok(&p);
    assert_eq!(live(), image('1'));
    promoted_record(gh, &dep_a, &target);
    gh.assert_no_violations();
}

#[tokio::test]
async fn app_runner_promotion_puts_the_source_image_on_this_service() {
    use crate::helpers::fake_apprunner::FakeAppRunner;
    let gh = FakeGithub::start_for("octo-org/octo-repo").await;
    history(&gh);
    let fake = FakeAppRunner::start("frontend", &image('0')).await;
    if app_runner_step(&fake).is_none() {
        return;
    }
    let target = json!({"kind": "app-runner", "service": "frontend", "image": image('1')});
    promote_an_image(
        &gh,
        || app_runner_step(&fake).unwrap(),
        || fake.image(),
        target,
    )
    .await;
    fake.assert_no_protocol_errors();
}

#[tokio::test]
async fn express_promotion_puts_the_source_image_on_the_service_of_the_same_name() {
    let gh = FakeGithub::start_for("octo-org/octo-repo").await;
    history(&gh);
    let fake = FakeEcs::start().await;
    let arn = fake.seed_express("default", "frontend", &image('0'));
    if express_step(&fake).is_none() {
        return;
    }
    let target = json!({"kind": "ecs-express", "service": arn, "image": image('1')});
    promote_an_image(
        &gh,
        || express_step(&fake).unwrap(),
        || fake.express_image(&arn),
        target,
    )
    .await;
    fake.assert_no_protocol_errors();
}

/// A Lambda deploy from `s3-bucket` + `s3-key` records the S3 object with the version and code hash
/// (where a copy to another account is taken from), and a promotion keeps it in its own record; a deploy
/// from `zip-file` records none.
#[tokio::test]
async fn a_lambda_release_deployed_from_s3_records_its_object_and_the_promotion_keeps_it() {
    let gh = FakeGithub::start_for("octo-org/octo-repo").await;
    history(&gh);
    let Some(rig) = crate::lambda::Rig::new("promote-s3").await else {
        return;
    };
    let bucket = rig.function.to_lowercase();
    crate::helpers::moto::s3_bucket(&rig.sdk, &bucket, false).await;
    aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&rig.sdk)
            .force_path_style(true)
            .build(),
    )
    .put_object()
    .bucket(&bucket)
    .key("builds/a.zip")
    .body(crate::lambda::zip("a").into())
    .send()
    .await
    .unwrap();
    ok(&at(rig.step(None).input("alias", "dev"), &gh, SHA_A, "dev")
        .input("s3-bucket", &bucket)
        .input("s3-key", "builds/a.zip")
        .run()
        .await);
    let dep_a = last_deployment(&gh);
    assert_eq!(
        dep_a["payload"]["target"]["s3"],
        json!({"bucket": bucket, "key": "builds/a.zip"}),
        "{dep_a}"
    );
    // Within one account `s3-bucket` is accepted and not used: the alias moves to the recorded version.
    ok(&at(rig.step(None), &gh, SHA_C, "staging")
        .input("promote-from", "dev")
        .input("s3-bucket", "unused-here")
        .run()
        .await);
    let mut target = dep_a["payload"]["target"].clone();
    target["alias"] = json!("live");
    promoted_record(&gh, &dep_a, &target);

    ok(
        &at(rig.step(Some("b")).input("alias", "dev"), &gh, SHA_B, "dev")
            .run()
            .await,
    );
    let dep_b = last_deployment(&gh);
    assert!(dep_b["payload"]["target"].get("s3").is_none(), "{dep_b}");
    gh.assert_no_violations();
}

/// The version alias `live` of `function` is on.
/// How many versions `function` has (`$LATEST` counted).
async fn versions(lambda: &aws_sdk_lambda::Client, function: &str) -> usize {
    lambda
        .list_versions_by_function()
        .function_name(function)
        .send()
        .await
        .unwrap()
        .versions()
        .len()
}

async fn live_version(lambda: &aws_sdk_lambda::Client, function: &str) -> String {
    lambda
        .get_alias()
        .function_name(function)
        .name("live")
        .send()
        .await
        .unwrap()
        .function_version()
        .unwrap()
        .to_owned()
}

/// Across accounts: dev (moto's default account) runs a release deployed from S3; staging (account
/// 222222222222, its own function of the same name) promotes it with its own `s3-bucket`: the recorded
/// zip is copied there by its code hash and deployed as a new version with that very code hash,
/// recorded as promoted from dev. Refused: without `s3-bucket`, and for a release deployed from
/// `zip-file` (no S3 object recorded to copy).
#[tokio::test]
async fn a_lambda_promotion_across_accounts_copies_the_recorded_zip_and_deploys_the_same_code_hash()
{
    let gh = FakeGithub::start_for("octo-org/octo-repo").await;
    history(&gh);
    let Some(rig) = crate::lambda::Rig::new("promote-x").await else {
        return;
    };
    let prod = crate::promote::other_account(&rig.endpoint, "222222222222").await;
    // Account B's function of the same name, version 1 behind `live`.
    let prod_lambda = aws_sdk_lambda::Client::new(&prod);
    let role = crate::lambda::create_role_as(
        &rig.endpoint,
        &crate::promote::access_key(&prod).await,
        &format!("{}-role", rig.function),
    )
    .await;
    prod_lambda
        .create_function()
        .function_name(&rig.function)
        .role(role)
        .runtime(aws_sdk_lambda::types::Runtime::Python312)
        .handler("app.handler")
        .code(
            aws_sdk_lambda::types::FunctionCode::builder()
                .zip_file(crate::lambda::zip("prod v1").into())
                .build(),
        )
        .publish(true)
        .send()
        .await
        .unwrap();
    prod_lambda
        .create_alias()
        .function_name(&rig.function)
        .name("live")
        .function_version("1")
        .send()
        .await
        .unwrap();
    let dev_bucket = format!("{}-dev", rig.function.to_lowercase());
    let prod_bucket = format!("{}-prod", rig.function.to_lowercase());
    crate::promote::bucket(&rig.sdk, &dev_bucket).await;
    crate::promote::bucket(&prod, &prod_bucket).await;
    let zip = crate::lambda::zip("def handler(e, c):\n    return 'a'\n");
    aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&rig.sdk)
            .force_path_style(true)
            .build(),
    )
    .put_object()
    .bucket(&dev_bucket)
    .key("builds/a.zip")
    .body(zip.clone().into())
    .send()
    .await
    .unwrap();
    let environments = "dev: { role: 'arn:aws:iam::123456789012:role/read' }\nstaging: { role: 'arn:aws:iam::222222222222:role/deploy' }";
    let deploy_dev = |step: Step, sha: &str| {
        at(step.input("alias", "dev"), &gh, sha, "dev").input("environments", environments)
    };
    let promote = || {
        at(rig.step(None), &gh, SHA_C, "staging")
            .input("promote-from", "dev")
            .input("environments", environments)
    };

    ok(&deploy_dev(rig.step(None), SHA_A)
        .input("s3-bucket", &dev_bucket)
        .input("s3-key", "builds/a.zip")
        .run()
        .await);
    let dep_a = last_deployment(&gh);
    let code = dep_a["payload"]["target"]["code_sha256"].clone();
    assert_eq!(code, stevedore::aws::zip_copy::code_sha256(&zip), "{dep_a}");

    // No `s3-bucket`: refused before GitHub is read.
    let reads = gh.count("GET /repos/{owner}/{repo}/deployments");
    refused(
        &promote().run().await,
        &[
            "environment `dev` is in account `123456789012` and this step deploys to account `222222222222`",
            "input `s3-bucket` is not given",
        ],
    );
    assert_eq!(gh.count("GET /repos/{owner}/{repo}/deployments"), reads);

    // Dry run: verifies the release in account A, names the copy, writes nothing.
    let deployments = gh.deployments().len();
    let dry = promote()
        .input("s3-bucket", &prod_bucket)
        .input("dry-run", "true")
        .run()
        .await;
    ok(&dry);
    assert!(
        dry.summary.contains(&format!(
            "Would copy `s3://{dev_bucket}/builds/a.zip` (account `123456789012`) to `s3://{prod_bucket}/builds/a.zip` (account `222222222222`)"
        )),
        "{}",
        dry.summary
    );
    assert_eq!(gh.deployments().len(), deployments);
    let prod_s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&prod)
            .force_path_style(true)
            .build(),
    );
    let listed = prod_s3
        .list_objects_v2()
        .bucket(&prod_bucket)
        .send()
        .await
        .unwrap();
    assert!(listed.contents().is_empty(), "{listed:?}");

    let r = promote().input("s3-bucket", &prod_bucket).run().await;
    ok(&r);
    assert!(
        r.summary.contains(&format!(
            "Copied `s3://{dev_bucket}/builds/a.zip` (account `123456789012`) to `s3://{prod_bucket}/builds/a.zip` (account `222222222222`)"
        )),
        "{}",
        r.summary
    );
    let d = last_deployment(&gh);
    assert_eq!(d["environment"], "staging", "{d}");
    assert_eq!(d["sha"], dep_a["sha"], "{d}");
    assert_eq!(d["payload"]["promoted_from"], "dev", "{d}");
    assert_eq!(d["payload"]["restored_from"], dep_a["id"], "{d}");
    assert_eq!(d["payload"]["target"]["code_sha256"], code, "{d}");
    assert_eq!(
        d["payload"]["target"]["s3"],
        json!({"bucket": prod_bucket, "key": "builds/a.zip"}),
        "{d}"
    );
    assert_eq!(
        states(&gh, d["id"].as_u64().unwrap()),
        ["in_progress", "success"]
    );
    // Account B: `live` on the new version, whose code hash is dev's; its bucket holds the zip.
    let version = d["payload"]["target"]["version"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(live_version(&prod_lambda, &rig.function).await, version);
    let published = prod_lambda
        .get_function_configuration()
        .function_name(&rig.function)
        .qualifier(&version)
        .send()
        .await
        .unwrap();
    assert_eq!(published.code_sha256(), code.as_str());
    let copied = prod_s3
        .get_object()
        .bucket(&prod_bucket)
        .key("builds/a.zip")
        .send()
        .await
        .unwrap()
        .body
        .collect()
        .await
        .unwrap()
        .into_bytes();
    assert_eq!(copied.as_ref(), zip.as_slice());

    // The code Lambda takes differs from the copy (the object changed between the copy and the update:
    // here Lambda's answers report another hash): refused before anything is published or moved.
    let zip_c = crate::lambda::zip("def handler(e, c):\n    return 'c'\n");
    aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&rig.sdk)
            .force_path_style(true)
            .build(),
    )
    .put_object()
    .bucket(&dev_bucket)
    .key("builds/c.zip")
    .body(zip_c.into())
    .send()
    .await
    .unwrap();
    ok(&deploy_dev(rig.step(None), SHA_B)
        .input("s3-bucket", &dev_bucket)
        .input("s3-key", "builds/c.zip")
        .run()
        .await);
    let deployments = gh.deployments().len();
    let r = promote()
        .input("s3-bucket", &prod_bucket)
        .var(
            "AWS_ENDPOINT_URL_LAMBDA",
            &other_code_proxy(&rig.endpoint).await,
        )
        .exits(1)
        .await;
    assert!(
        r.stdout.contains(
            "The copied zip changed between the copy and the update; nothing was moved to it"
        ),
        "{}",
        r.stdout
    );
    assert_eq!(live_version(&prod_lambda, &rig.function).await, version);
    assert_eq!(
        versions(&prod_lambda, &rig.function).await,
        3,
        "$LATEST, 1 and the promoted one; nothing published"
    );
    assert_eq!(gh.deployments().len(), deployments + 1);
    assert_eq!(
        states(&gh, last_deployment(&gh)["id"].as_u64().unwrap()),
        ["in_progress", "failure"]
    );

    // A release deployed from `zip-file` records no S3 object: nothing to copy.
    ok(&deploy_dev(rig.step(Some("b")), SHA_B).run().await);
    let deployments = gh.deployments().len();
    refused(
        &promote().input("s3-bucket", &prod_bucket).run().await,
        &[
            "records no S3 object: it was deployed from zip-file",
            "promote across accounts needs a release deployed from S3 by this version",
        ],
    );
    assert_eq!(gh.deployments().len(), deployments);
    assert_eq!(live_version(&prod_lambda, &rig.function).await, version);
    gh.assert_no_violations();
}

/// Two accounts' registries for a promotion across accounts: dev's (A) holds an older image and the one
/// dev deploys (two architectures); staging's (B, behind a front counting what is written) holds the
/// image staging runs now.
struct Registries {
    a: crate::helpers::engine::Registry,
    b: crate::helpers::engine::Registry,
    b_front: crate::helpers::registry_front::RegistryFront,
    /// `127.0.0.1:PORT` of B's front: the host of staging's images.
    b_host: String,
    digest: stevedore::registry::Digest,
    old_a: String,
    old_b: String,
}

/// The fake GitHub with the history of `history`, and [`Registries`].
async fn registries() -> Option<(FakeGithub, Registries)> {
    use crate::helpers::engine::Registry;
    let gh = FakeGithub::start_for("octo-org/octo-repo").await;
    history(&gh);
    let (Some(a), Some(b)) = (Registry::start(), Registry::start()) else {
        return None;
    };
    let (old_a, _) = crate::promote::multi_arch(&a.addr, "web", 60, 2048).await;
    let (digest, _) = crate::promote::multi_arch(&a.addr, "web", 70, 64 * 1024).await;
    let (old_b, _) = crate::promote::multi_arch(&b.addr, "web", 80, 2048).await;
    let b_front = crate::helpers::registry_front::RegistryFront::start(&b.addr).await;
    let b_host = b_front.url.trim_start_matches("http://").to_owned();
    Some((
        gh,
        Registries {
            old_a: format!("{}/web@{old_a}", a.addr),
            old_b: format!("{b_host}/web@{old_b}"),
            a,
            b,
            b_front,
            b_host,
            digest,
        },
    ))
}

/// The scripted endpoints of a promotion across accounts: dev's and staging's (URL, health URL), both
/// behind one front that routes by the region requests are signed for, the endpoint variable that names
/// it, and the input that names the service.
struct Sides<'a> {
    endpoint_var: &'a str,
    dev: (&'a str, String),
    staging: (&'a str, String),
    service: (&'a str, &'a str),
}

/// dev (account 123456789012, us-east-1) deploys `A/web@<digest>` ; staging (account 222222222222,
/// eu-west-1) promotes from dev (`live` reads what staging runs,
/// `target` is the record of an image there). The dry run names the copy and writes nothing; dev's entry
/// without `registry` (so its ECR `proxyEndpoint`) refuses an image of A; the promotion copies the index
/// and both children into B by digest, staging runs `B/web@<digest>` and records it as promoted from dev;
/// a second promotion uploads nothing; `registry` without `promote-from` is refused.
async fn promote_image_across(
    (gh, r): &(FakeGithub, Registries),
    sides: Sides<'_>,
    live: impl Fn() -> String,
    target: impl Fn(&str) -> Value,
) {
    let front = crate::helpers::region_front::start(&[
        ("us-east-1", sides.dev.0),
        ("eu-west-1", sides.staging.0),
    ])
    .await;
    if crate::helpers::deploy::scripted_step(sides.endpoint_var, &front).is_none() {
        return;
    }
    let step = |in_dev: bool| {
        let (_, health) = if in_dev { &sides.dev } else { &sides.staging };
        crate::helpers::deploy::scripted_step(sides.endpoint_var, &front)
            .unwrap()
            .input(sides.service.0, sides.service.1)
            .input("health-url", health)
    };
    let environments = |dev_registry: Option<&str>| {
        format!(
            "dev: {{ role: 'arn:aws:iam::123456789012:role/read', region: us-east-1{} }}\nstaging: {{ role: 'arn:aws:iam::222222222222:role/deploy' }}",
            dev_registry
                .map(|r| format!(", registry: '{r}'"))
                .unwrap_or_default()
        )
    };
    let dev_image = format!("{}/web@{}", r.a.addr, r.digest);
    let a_registry = format!("http://{}", r.a.addr);
    ok(&at(step(true), gh, SHA_A, "dev")
        .input("environments", &environments(Some(&a_registry)))
        .input("image", &dev_image)
        .run()
        .await);
    let dep_dev = last_deployment(gh);
    let promote = |dev_registry: Option<&str>| {
        at(step(false), gh, SHA_C, "staging")
            .input("environments", &environments(dev_registry))
            .input("promote-from", "dev")
            .input("registry", &r.b_front.url)
    };
    let here_image = format!("{}/web@{}", r.b_host, r.digest);
    let route = format!(
        "`{dev_image}` (account `123456789012`) to `{here_image}` (account `222222222222`) by digest"
    );

    // Dry run: logs in to both registries, checks that A holds the digest, copies nothing.
    let deployments = gh.deployments().len();
    let dry = promote(Some(&a_registry))
        .input("dry-run", "true")
        .run()
        .await;
    ok(&dry);
    assert!(
        dry.summary.contains(&format!("Would copy {route}")),
        "{}",
        dry.summary
    );
    assert_eq!(gh.deployments().len(), deployments);
    assert_eq!(r.b_front.writes(), 0, "{:?}", r.b_front.counts());
    assert_eq!(live(), r.old_b);

    // dev's entry names no registry: its image must then be in dev's ECR (moto's proxyEndpoint).
    refused(
        &promote(None).run().await,
        &[&format!(
            "the image `{dev_image}` of `dev` is not in that environment's registry `123456789012.dkr.ecr.us-east-1.amazonaws.com`"
        )],
    );
    assert_eq!(gh.deployments().len(), deployments);

    let p = promote(Some(&a_registry)).run().await;
    ok(&p);
    assert!(
        p.summary
            .contains(&format!("Copied {route}: 3 manifest(s)")),
        "{}",
        p.summary
    );
    assert_eq!(live(), here_image);
    let (got, _, _) = r.b.manifest("web", r.digest.as_str()).await;
    assert_eq!(got, r.digest.as_str());
    let uploads = r.b_front.count("PATCH upload");
    assert!(uploads >= 1, "{:?}", r.b_front.counts());
    promoted_record(gh, &dep_dev, &target(&here_image));

    // Again: B holds every blob, nothing is uploaded.
    ok(&promote(Some(&a_registry)).run().await);
    assert_eq!(
        r.b_front.count("PATCH upload"),
        uploads,
        "{:?}",
        r.b_front.counts()
    );
    assert_eq!(live(), here_image);

    // `registry` without `promote-from` is an input error.
    refused(
        &at(step(false), gh, SHA_C, "staging")
            .input("image", &here_image)
            .input("registry", &r.b_front.url)
            .run()
            .await,
        &[
            "input `registry`",
            "applies to a deploy only with `promote-from`",
        ],
    );
    gh.assert_no_violations();
}

/// App Runner across accounts ([`promote_image_across`]): one scripted App Runner endpoint per account
/// and region.
#[tokio::test]
async fn an_app_runner_promotion_across_accounts_copies_the_image_by_digest_into_this_accounts_registry()
 {
    use crate::helpers::fake_apprunner::FakeAppRunner;
    let Some(rig) = registries().await else {
        return;
    };
    let r = &rig.1;
    let dev = FakeAppRunner::start_in("123456789012", "us-east-1", "frontend", &r.old_a).await;
    let staging = FakeAppRunner::start_in("222222222222", "eu-west-1", "frontend", &r.old_b).await;
    let sides = Sides {
        endpoint_var: "AWS_ENDPOINT_URL_APPRUNNER",
        dev: (dev.url(), dev.health_url()),
        staging: (staging.url(), staging.health_url()),
        service: ("app-runner-service", "frontend"),
    };
    promote_image_across(
        &rig,
        sides,
        || staging.image(),
        |image| json!({"kind": "app-runner", "service": "frontend", "image": image}),
    )
    .await;
    // The source is only read: dev still runs what it deployed.
    assert_eq!(dev.image(), format!("{}/web@{}", r.a.addr, r.digest));
    for fake in [&dev, &staging] {
        fake.assert_no_protocol_errors();
    }
}

/// ECS Express across accounts ([`promote_image_across`]): one scripted ECS endpoint per account and
/// region (the services' ARNs name them).
#[tokio::test]
async fn an_express_promotion_across_accounts_copies_the_image_by_digest_into_this_accounts_registry()
 {
    let Some(rig) = registries().await else {
        return;
    };
    let r = &rig.1;
    let dev = FakeEcs::start_in("123456789012", "us-east-1").await;
    dev.seed_express("default", "frontend", &r.old_a);
    let staging = FakeEcs::start_in("222222222222", "eu-west-1").await;
    let arn = staging.seed_express("default", "frontend", &r.old_b);
    assert_eq!(
        arn,
        "arn:aws:ecs:eu-west-1:222222222222:service/default/frontend"
    );
    let sides = Sides {
        endpoint_var: "AWS_ENDPOINT_URL_ECS",
        dev: (dev.url(), dev.health_url()),
        staging: (staging.url(), staging.health_url()),
        service: ("express-service", "frontend"),
    };
    promote_image_across(
        &rig,
        sides,
        || staging.express_image(&arn),
        |image| json!({"kind": "ecs-express", "service": arn, "image": image}),
    )
    .await;
    dev.assert_no_protocol_errors();
    staging.assert_no_protocol_errors();
}

/// ECS across accounts: dev (account 123456789012, eu-west-1) runs service `web` with an `app` container of
/// registry A and a `log-router` sidecar of a public registry; staging (account 222222222222, us-east-1)
/// runs its own task definition of family `web` (its own roles), `app` from registry B. Staging promotes
/// from dev: `app`'s image is copied into B by digest, a new revision of staging's own task definition is
/// registered with it (the sidecar, the same image, and the roles untouched), rolled out and recorded as
/// promoted from dev. The dry run names the copy and registers nothing.
#[tokio::test]
async fn an_ecs_promotion_across_accounts_registers_this_accounts_task_definition_with_the_copied_images()
 {
    let Some(rig) = registries().await else {
        return;
    };
    let (gh, r) = (&rig.0, &rig.1);
    let sidecar = format!(
        "public.ecr.aws/aws-observability/aws-for-fluent-bit@sha256:{}",
        "f".repeat(64)
    );
    let task = |image: &str, account: &str| {
        json!([
            {"name": "app", "image": image, "essential": true,
             "environment": [{"name": "ACCOUNT", "value": account}]},
            {"name": "log-router", "image": sidecar, "essential": true},
        ])
    };
    let dev = FakeEcs::start().await;
    let td_dev = dev.seed_task_definition("web", task(&r.old_a, "dev"));
    dev.seed_service("prod", "web", &td_dev, 2, Some((true, false)));
    let staging = FakeEcs::start_in("222222222222", "us-east-1").await;
    let td_staging = staging.seed_task_definition("web", task(&r.old_b, "staging"));
    staging.seed_service("prod", "web", &td_staging, 2, Some((true, false)));
    let front = crate::helpers::region_front::start(&[
        ("eu-west-1", dev.url()),
        ("us-east-1", staging.url()),
    ])
    .await;
    let a_registry = format!("http://{}", r.a.addr);
    let environments = format!(
        "dev: {{ role: 'arn:aws:iam::123456789012:role/read', region: eu-west-1, registry: '{a_registry}' }}\nstaging: {{ role: 'arn:aws:iam::222222222222:role/deploy', region: us-east-1 }}"
    );
    let Some(first) = crate::helpers::deploy::scripted_step("AWS_ENDPOINT_URL_ECS", &front) else {
        return;
    };
    let step = |s: Step, sha: &str, environment: &str| {
        at(s, gh, sha, environment)
            .input("cluster", "prod")
            .input("service", "web")
            .input("environments", &environments)
    };
    let dev_image = format!("{}/web@{}", r.a.addr, r.digest);
    dev.script("web", [Behaviour::complete_after_polls(1)]);
    ok(&step(first, SHA_A, "dev")
        .input("container", "app")
        .input("image", &dev_image)
        .run()
        .await);
    let dep_dev = last_deployment(gh);
    let promote = || {
        step(
            crate::helpers::deploy::scripted_step("AWS_ENDPOINT_URL_ECS", &front).unwrap(),
            SHA_C,
            "staging",
        )
        .input("promote-from", "dev")
        .input("registry", &r.b_front.url)
    };
    let here_image = format!("{}/web@{}", r.b_host, r.digest);
    let route = format!(
        "`{dev_image}` (account `123456789012`) to `{here_image}` (account `222222222222`) by digest"
    );

    let dry = promote().input("dry-run", "true").run().await;
    ok(&dry);
    assert!(
        dry.summary.contains(&format!("Would copy {route}")),
        "{}",
        dry.summary
    );
    assert!(staging.requests("RegisterTaskDefinition").is_empty());
    assert_eq!(r.b_front.writes(), 0, "{:?}", r.b_front.counts());

    staging.script("web", [Behaviour::complete_after_polls(1)]);
    let p = promote().run().await;
    ok(&p);
    assert!(
        p.summary
            .contains(&format!("Copied {route}: 3 manifest(s)")),
        "{}",
        p.summary
    );
    let td_new = staging.service_task_definition("web");
    assert_ne!(td_new, td_staging);
    assert!(
        td_new.starts_with("arn:aws:ecs:us-east-1:222222222222:task-definition/web:"),
        "{td_new}"
    );
    let registered = staging.task_definition(&td_new);
    let containers = registered["containerDefinitions"].as_array().unwrap();
    assert_eq!(containers[0]["image"], here_image.as_str(), "{registered}");
    assert_eq!(
        containers[0]["environment"][0]["value"], "staging",
        "this account's own settings stay"
    );
    assert_eq!(containers[1]["image"], sidecar.as_str(), "{registered}");
    let (got, _, _) = r.b.manifest("web", r.digest.as_str()).await;
    assert_eq!(got, r.digest.as_str());
    promoted_record(
        gh,
        &dep_dev,
        &json!({"kind": "ecs", "cluster": "prod", "services": [{"service": "web", "task_definition": td_new}]}),
    );
    assert_eq!(
        dev.service_task_definition("web"),
        dep_dev["payload"]["target"]["services"][0]["task_definition"]
            .as_str()
            .unwrap(),
        "the source is only read"
    );

    // dev deployed by tag: what the tag names can have changed, so it is not copied.
    let tagged = format!("{}/web:1.0.0", r.a.addr);
    dev.script("web", [Behaviour::complete_after_polls(1)]);
    ok(&step(
        crate::helpers::deploy::scripted_step("AWS_ENDPOINT_URL_ECS", &front).unwrap(),
        SHA_B,
        "dev",
    )
    .input("container", "app")
    .input("image", &tagged)
    .run()
    .await);
    let registers = staging.requests("RegisterTaskDefinition").len();
    refused(
        &promote().run().await,
        &[&format!(
            "the image `{tagged}` of `dev` is not pinned by digest"
        )],
    );
    assert_eq!(staging.requests("RegisterTaskDefinition").len(), registers);
    assert_eq!(staging.service_task_definition("web"), td_new);
    dev.assert_no_protocol_errors();
    staging.assert_no_protocol_errors();
}

/// A Lambda endpoint in front of moto whose answers to `UpdateFunctionCode` and to the unqualified
/// `GetFunctionConfiguration` report another `CodeSha256` than the code uploaded: what Lambda says when
/// the object it read is not the one that was copied.
async fn other_code_proxy(moto: &str) -> String {
    use axum::body::Bytes;
    use axum::http::{HeaderMap, Method, Uri};
    let upstream = moto.to_owned();
    let app = axum::Router::new().fallback(
        move |method: Method, uri: Uri, headers: HeaderMap, body: Bytes| {
            let upstream = upstream.clone();
            async move {
                let path = uri.path_and_query().map_or("/", |p| p.as_str()).to_owned();
                let rewrite = (method == Method::PUT && uri.path().ends_with("/code"))
                    || (method == Method::GET
                        && uri.path().ends_with("/configuration")
                        && uri.query().is_none());
                let (status, headers, body) =
                    crate::lambda::forward(&upstream, method, &path, &headers, body).await;
                if !rewrite || !status.is_success() {
                    return (status, headers, body);
                }
                let mut v: Value = serde_json::from_slice(&body).unwrap();
                v["CodeSha256"] = json!("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=");
                (
                    status,
                    headers,
                    Bytes::from(serde_json::to_vec(&v).unwrap()),
                )
            }
        },
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}")
}
