//! Issue 15, finding 4: no text stevedore prints can be taken by the runner for a workflow command it did
//! not mean. Every printing path is fed arbitrary text and read back with the runner's own parsing rules
//! (helpers/workflow_commands.rs); the real image is run with the attack from the issue.

use crate::helpers::has;
use proptest::prelude::*;
use stevedore::report::commands::{Commands, Level, Location, Masker};
use stevedore::report::files::render_heredoc;

use crate::helpers::run::parse_env_file;
use crate::helpers::runner::{ContainerStep, Profile};
use crate::helpers::workflow_commands::{Cmd, parse};

/// The check name of the attack in issue 15.
const ATTACK: &str =
    "Lint\n::set-output name=pwn::1\r::stop-commands::rtx\n##[set-output name=pwn2;]v";

fn text(buf: &std::sync::Arc<std::sync::Mutex<Vec<u8>>>) -> String {
    String::from_utf8(buf.lock().unwrap().clone()).unwrap()
}

/// Fragments the runner's parsers care about, mixed with arbitrary text.
fn hostile() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        Just("::".to_owned()),
        Just("##[".to_owned()),
        Just("]".to_owned()),
        Just("\r".to_owned()),
        Just("\n".to_owned()),
        Just("\r\n".to_owned()),
        Just(" ".to_owned()),
        Just("\t".to_owned()),
        Just("\u{2003}".to_owned()),
        Just("\u{200B}".to_owned()),
        Just("\u{0085}".to_owned()),
        Just("%".to_owned()),
        Just("%0A".to_owned()),
        Just("%25".to_owned()),
        Just(",".to_owned()),
        Just("=".to_owned()),
        Just(";".to_owned()),
        Just(":".to_owned()),
        Just("set-output name=x".to_owned()),
        Just("stop-commands".to_owned()),
        Just("add-mask".to_owned()),
        Just("ERROR".to_owned()),
        Just("group".to_owned()),
        Just("endgroup".to_owned()),
        Just("rtx".to_owned()),
        Just("s3cr3t".to_owned()),
        "\\PC{0,6}",
        any::<String>(),
    ];
    prop::collection::vec(piece, 0..10).prop_map(|v| v.concat())
}

fn level(i: u8) -> Level {
    match i % 3 {
        0 => Level::Notice,
        1 => Level::Warning,
        _ => Level::Error,
    }
}

/// What the runner must read from one `annotate` call: the intended command and data, nothing else.
fn annotation(
    masker: &Masker,
    level: Level,
    title: &str,
    file: &str,
    line: Option<u32>,
    message: &str,
) -> Cmd {
    let mut props: Vec<(String, String)> = Vec::new();
    let t = masker.redact(title);
    if !t.trim().is_empty() {
        props.push(("title".into(), t.trim().to_owned()));
    }
    if !file.is_empty() {
        let f = masker.redact(file);
        // The runner trims the end of the (escaped) property list: a file name that ends it loses its
        // trailing white space, except CR and LF, which travel escaped.
        let f = if line.is_none() {
            f.trim_end_matches(|c: char| c.is_whitespace() && c != '\r' && c != '\n')
                .to_owned()
        } else {
            f
        };
        if !f.is_empty() {
            props.push(("file".into(), f));
        }
    }
    if let Some(l) = line {
        props.push(("line".into(), l.to_string()));
    }
    Cmd {
        name: level.command().to_owned(),
        props: props.into_iter().collect(),
        data: masker.redact(message),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn every_printing_path_emits_only_the_intended_commands(
        secret in hostile(),
        log_line in hostile(),
        title in hostile(),
        file in hostile(),
        message in hostile(),
        group in hostile(),
        debug in hostile(),
        line in prop::option::of(1u32..10_000),
        lvl in any::<u8>(),
    ) {
        // Inside Actions: exactly the commands stevedore means, with the data it means.
        let (c, buf) = Commands::buffer(Masker::default(), true);
        let registered = Masker::default().register(&secret);
        c.add_mask(&secret);
        c.line(&log_line);
        let loc = Location { file: Some(file.clone()), line, ..Location::default() };
        c.annotate(level(lvl), Some(&title), &loc, &message);
        c.group(&group);
        c.line(&log_line);
        c.endgroup();
        c.debug(&debug);
        c.line(ATTACK);
        let masker = c.masker();
        let want = [
            annotation(masker, level(lvl), &title, &file, line, &message),
            Cmd::new("group", &[], &masker.redact(&group)),
            Cmd::new("endgroup", &[], ""),
            Cmd::new("debug", &[], &masker.redact(&debug)),
            Cmd::new("add-mask", &[], "a-later-secret-value"),
        ];
        c.add_mask("a-later-secret-value");

        let got = parse(&text(&buf));
        let masks = got.iter().take_while(|m| m.name == "add-mask").count();
        if registered {
            prop_assert!(masks >= 1, "{got:?}");
            prop_assert_eq!(&got[0].data, &secret);
            for m in &got[..masks] {
                prop_assert!(secret.contains(m.data.as_str()), "{m:?}");
            }
        } else {
            prop_assert_eq!(masks, 0, "{:?}", got);
        }
        prop_assert_eq!(&got[masks..], &want[..], "output:\n{}", text(&buf));

        // Outside Actions (a terminal) the same calls print text only.
        let (c, buf) = Commands::buffer(Masker::default(), false);
        c.add_mask(&secret);
        c.line(&log_line);
        c.annotate(level(lvl), Some(&title), &loc, &message);
        c.group(&group);
        c.endgroup();
        c.debug(&debug);
        let out = text(&buf);
        prop_assert_eq!(parse(&out), vec![], "output:\n{}", out);

        // Logs on stderr (the runner parses stderr too).
        let event = format!("2026-01-01T00:00:00Z  INFO check {log_line}: {message}\n");
        let err = stevedore::logging::render_event(masker, event.as_bytes());
        prop_assert_eq!(parse(&err), vec![], "stderr:\n{}", err);
        prop_assert!(err.ends_with('\n'));

        // Step outputs: the value comes back whole and alone, whatever it holds.
        let file_text = render_heredoc([("report", message.as_str()), ("verdict", "success")]).unwrap();
        prop_assert_eq!(
            parse_env_file(&file_text),
            vec![
                ("report".to_owned(), message.replace("\r\n", "\n")),
                ("verdict".to_owned(), "success".to_owned())
            ]
        );
    }
}

#[test]
fn the_check_name_of_issue_15_is_text_on_every_path() {
    let (c, buf) = Commands::buffer(Masker::default(), true);
    c.line(&format!("check {ATTACK} failed"));
    c.group(ATTACK);
    c.endgroup();
    c.annotate(
        Level::Error,
        Some(ATTACK),
        &Location {
            file: Some(ATTACK.into()),
            ..Location::default()
        },
        ATTACK,
    );
    c.add_mask("secret-after-the-attack");
    let out = text(&buf);
    let got = parse(&out);
    let names: Vec<&str> = got.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(
        names,
        ["group", "endgroup", "error", "add-mask"],
        "output:\n{out}"
    );
    assert_eq!(got[0].data, ATTACK);
    assert_eq!(got[2].data, ATTACK);
    assert_eq!(got[2].props["title"], ATTACK);
    assert_eq!(got[3].data, "secret-after-the-attack");
    // The text is still there for a human, one runner line per line of the name.
    has(
        &out,
        "\n\\::set-output name=pwn::1\n\\::stop-commands::rtx\n##[\\set-output name=pwn2;]v failed\n",
    );
    // Logs too.
    let err = stevedore::logging::render_event(&Masker::default(), ATTACK.as_bytes());
    assert!(parse(&err).is_empty(), "{err}");
}

#[tokio::test]
async fn a_hostile_check_name_injects_no_command_in_the_real_image() {
    // The attack of issue 15 in the `checks` input of a real run: whatever stevedore prints about the
    // check (table row, annotation, validation error), the runner must find no command it did not mean.
    let checks = format!(
        "- name: {}\n  outcome: failure\n",
        serde_json::to_string(ATTACK).unwrap()
    );
    let Some(r) = ContainerStep::new(Profile::Runner)
        .input("mode", "lint-gate")
        .input("checks", &checks)
        .run()
        .await
    else {
        return;
    };
    for (stream, out) in [("stdout", &r.stdout), ("stderr", &r.stderr)] {
        for cmd in parse(out) {
            assert!(
                matches!(
                    cmd.name.as_str(),
                    "error" | "warning" | "notice" | "group" | "endgroup" | "debug" | "add-mask"
                ),
                "{stream}: injected command {cmd:?}\n{}",
                r.logs()
            );
        }
    }
    // The name really was printed (so the test shows neutralisation, not silence).
    assert!(
        r.stdout.contains("set-output name=pwn") || r.stderr.contains("set-output name=pwn"),
        "{}",
        r.logs()
    );
    assert!(r.output("pwn").is_none() && r.output("pwn2").is_none());
}
