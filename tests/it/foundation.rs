//! The foundation: inputs, errors, outputs, masking, as the runner sees them.

use crate::helpers::run::Step;

#[tokio::test]
async fn three_bad_inputs_give_three_messages_and_exit_2() {
    let r = Step::new()
        .input("mode", "lint-gate")
        .input("dry-run", "yes")
        .input("comment", "sometimes")
        .input("report-key", "k")
        .var("INPUT_DRY_RUN", "true")
        .run()
        .await;
    assert_eq!(r.code, 2, "{}", r.stdout);
    let errors: Vec<_> = r
        .stdout
        .lines()
        .filter(|l| l.starts_with("::error"))
        .collect();
    assert_eq!(errors.len(), 2, "{}", r.stdout);
    let r = Step::new()
        .input("mode", "deploi")
        .input("dry-run", "yes")
        .input("comment", "x")
        .run()
        .await;
    assert_eq!(r.code, 2);
    let errors: Vec<_> = r
        .stdout
        .lines()
        .filter(|l| l.starts_with("::error"))
        .collect();
    assert_eq!(errors.len(), 3, "{}", r.stdout);
    assert!(
        errors[0].contains("input `mode` = `deploi`: is not a mode"),
        "{}",
        errors[0]
    );
    assert!(errors[1].contains("input `dry-run` = `yes`: is not a boolean"));
    assert!(errors[2].contains("input `comment` = `x`"));
    assert!(r.summary.contains("| `mode` | `deploi` |"), "{}", r.summary);
    assert_eq!(r.output("verdict"), Some("failure"));
}

#[tokio::test]
async fn hyphenated_and_underscore_input_names_both_work() {
    let hyphen = Step::new()
        .var("INPUT_MODE", "lint-gate")
        .var("INPUT_DRY-RUN", "maybe")
        .run()
        .await;
    let underscore = Step::new()
        .var("INPUT_MODE", "lint-gate")
        .var("INPUT_DRY_RUN", "maybe")
        .run()
        .await;
    for r in [&hyphen, &underscore] {
        assert_eq!(r.code, 2);
        assert!(
            r.stdout.contains("input `dry-run` = `maybe`"),
            "{}",
            r.stdout
        );
    }
}
