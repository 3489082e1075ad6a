//! The runner's workflow-command parser, rebuilt from actions/runner for tests.
//!
//! Sources (actions/runner `main`): `src/Runner.Sdk/ProcessInvoker.cs` `StartReadStream` (lines come from
//! .NET `StreamReader.ReadLine`: a line ends at LF, CR or CRLF; a terminator at the very end adds no empty
//! line); `src/Runner.Worker/Handlers/OutputManager.cs` `OnDataReceived`; `src/Runner.Common/ActionCommand.cs`
//! `TryParseV2` (`::name k=v,k=v::data`, after `TrimStart()`, header up to the *next* `::`, name up to the
//! first space, properties split at `,` then at the first `=`, empty pieces dropped) and `TryParse`
//! (`##[name k=v;k=v]data` *anywhere* in the line, up to the first `]`); `src/Runner.Worker/
//! ActionCommandManager.cs` `TryProcessCommand` (names compared case-insensitively; `TryParseV2` first, then
//! `TryParse`; `stop-commands` registers its data as a token, and until a command named by that token
//! arrives nothing else is processed). String searches are ordinal here; the runner's culture-sensitive
//! `StartsWith`/`IndexOf` can only match *more* text when ignorable characters sit inside `::`/`##[`, and
//! then the name starts at the wrong offset (see `src/report/commands.rs`).

use std::collections::BTreeMap;

/// The names the runner registers (`IActionCommandExtension.Command` of every extension, plus
/// `stop-commands`); `internal-set-repo-path` only exists for plugins.
pub const REGISTERED: &[&str] = &[
    "add-mask",
    "add-matcher",
    "add-path",
    "debug",
    "echo",
    "endgroup",
    "error",
    "group",
    "notice",
    "remove-matcher",
    "save-state",
    "set-env",
    "set-output",
    "stop-commands",
    "warning",
];

/// One command as the runner would process it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cmd {
    /// Lower case.
    pub name: String,
    /// Keys lower case (the runner's dictionary ignores case).
    pub props: BTreeMap<String, String>,
    pub data: String,
}

impl Cmd {
    pub fn new(name: &str, props: &[(&str, &str)], data: &str) -> Self {
        Self {
            name: name.to_owned(),
            props: props
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            data: data.to_owned(),
        }
    }
}

/// The lines `StreamReader.ReadLine` returns for `text`.
pub fn read_lines(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        match rest.find(['\r', '\n']) {
            Some(i) => {
                out.push(&rest[..i]);
                let end = if rest[i..].starts_with("\r\n") {
                    i + 2
                } else {
                    i + 1
                };
                rest = &rest[end..];
            }
            None => {
                out.push(rest);
                rest = "";
            }
        }
    }
    out
}

fn unescape(s: &str, mappings: &[(&str, &str)]) -> String {
    let mut out = s.to_owned();
    for (token, replacement) in mappings {
        out = out.replace(replacement, token);
    }
    out
}

const DATA: &[(&str, &str)] = &[("\r", "%0D"), ("\n", "%0A"), ("%", "%25")];
const PROPERTY: &[(&str, &str)] = &[
    ("\r", "%0D"),
    ("\n", "%0A"),
    (":", "%3A"),
    (",", "%2C"),
    ("%", "%25"),
];
const LEGACY: &[(&str, &str)] = &[
    (";", "%3B"),
    ("\r", "%0D"),
    ("\n", "%0A"),
    ("]", "%5D"),
    ("%", "%25"),
];

fn props_of(s: &str, sep: char, mappings: &[(&str, &str)]) -> BTreeMap<String, String> {
    let mut props = BTreeMap::new();
    for piece in s.split(sep).filter(|p| !p.is_empty()) {
        // `Split('=', 2, RemoveEmptyEntries)`: empty parts are dropped, so `=v` and `k=` give one part.
        let parts: Vec<&str> = piece.splitn(2, '=').filter(|p| !p.is_empty()).collect();
        if let [k, v] = parts[..] {
            props.insert(k.to_lowercase(), unescape(v, mappings));
        }
    }
    props
}

/// A command's `info` (between its opening marker and its data) split at the first space into its
/// lower-cased name and its properties, when that name is one the runner registered.
fn registered_name<'a>(info: &'a str, registered: &[String]) -> Option<(String, Option<&'a str>)> {
    let (name, props) = match info.find(' ') {
        Some(i) => (&info[..i], Some(&info[i + 1..])),
        None => (info, None),
    };
    let name = name.to_lowercase();
    registered.contains(&name).then_some((name, props))
}

/// `ActionCommand.TryParseV2`.
fn try_parse_v2(line: &str, registered: &[String]) -> Option<Cmd> {
    let m = line.trim_start();
    let rest = m.strip_prefix("::")?;
    let end = rest.find("::")?;
    let info = &rest[..end];
    let (name, props) = registered_name(info, registered)?;
    Some(Cmd {
        name,
        props: props
            .map(|p| props_of(p.trim(), ',', PROPERTY))
            .unwrap_or_default(),
        data: unescape(&rest[end + 2..], DATA),
    })
}

/// `ActionCommand.TryParse` (legacy `##[...]`).
fn try_parse_legacy(line: &str, registered: &[String]) -> Option<Cmd> {
    let p = line.find("##[")?;
    let rb = p + line[p..].find(']')?;
    let info = &line[p + 3..rb];
    let (name, props) = registered_name(info, registered)?;
    Some(Cmd {
        name,
        props: props.map(|p| props_of(p, ';', LEGACY)).unwrap_or_default(),
        data: unescape(&line[rb + 1..], LEGACY),
    })
}

/// Every command the runner would act on in `output` (one stream), in order, `stop-commands` and the
/// resuming token included. A line inside a stopped section is plain text.
pub fn parse(output: &str) -> Vec<Cmd> {
    let mut registered: Vec<String> = REGISTERED.iter().map(|s| (*s).to_owned()).collect();
    let mut stop_token: Option<String> = None;
    let mut out = Vec::new();
    for line in read_lines(output) {
        let Some(cmd) =
            try_parse_v2(line, &registered).or_else(|| try_parse_legacy(line, &registered))
        else {
            continue;
        };
        match &stop_token {
            Some(t) if cmd.name == *t => {
                registered.retain(|r| r != t);
                stop_token = None;
                out.push(cmd);
            }
            Some(_) => {}
            None => {
                if cmd.name == "stop-commands" {
                    let t = cmd.data.to_lowercase();
                    registered.push(t.clone());
                    stop_token = Some(t);
                }
                out.push(cmd);
            }
        }
    }
    out
}

#[test]
fn the_parser_reads_what_the_runner_reads() {
    // The attack from issue 15, printed raw: every form the runner accepts is found.
    let raw = "Lint\n  ::set-output name=pwn::1\r::stop-commands::rtx\n##[set-output name=pwn2;]v\n::rtx::\nx ##[add-mask]a%3Bb";
    assert_eq!(
        parse(raw),
        [
            Cmd::new("set-output", &[("name", "pwn")], "1"),
            Cmd::new("stop-commands", &[], "rtx"),
            Cmd::new("rtx", &[], ""),
            Cmd::new("add-mask", &[], "a;b"),
        ]
    );
    assert_eq!(
        parse("::error title=a%3Ab,File=x%2Cy,line=3::m%0Ax::y"),
        [Cmd::new(
            "error",
            &[("title", "a:b"), ("file", "x,y"), ("line", "3")],
            "m\nx::y"
        )]
    );
    // Unknown names, a space before the name, and a missing second `::` are text.
    assert!(parse("::nope::x\n:: error::x\n::error x\n##[nope]x\n\u{2003}").is_empty());
    assert_eq!(parse("\u{2003}\t::DEBUG::d"), [Cmd::new("debug", &[], "d")]);
    assert_eq!(read_lines("a\r\nb\rc\n"), ["a", "b", "c"]);
}
