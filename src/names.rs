//! Environment names, as GitHub treats them: case-insensitive, and never invisible or look-alike.
//!
//! GitHub compares environment names case-insensitively (`Production` and `production` are one environment,
//! with one set of protection rules), so stevedore does too: the `environment` input, the keys of
//! `environments` and `trigger-policy`, and the OIDC token's `environment` claim are all compared through
//! [`key`]. A name that only *looks* like another — a zero-width space inside it, a bidi control, a Cyrillic
//! `р` among Latin letters — would otherwise escape the rule written for the real one, so [`check`] refuses
//! it (exit 2), showing the hidden characters as `<U+XXXX>`.

use unicode_script::{Script, UnicodeScript};
use unicode_security::MixedScript;

/// The form two names are compared in: trimmed, Unicode lower case (GitHub: environment names are not
/// case-sensitive).
#[must_use]
pub fn key(name: &str) -> String {
    name.trim().to_lowercase()
}

/// Whether `a` and `b` name the same environment.
#[must_use]
pub fn same(a: &str, b: &str) -> bool {
    key(a) == key(b)
}

/// The name with every character outside printable ASCII written as `<U+XXXX>`, so nothing hides in it.
#[must_use]
pub fn visible(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c == ' ' || c.is_ascii_graphic() {
                c.to_string()
            } else {
                format!("<U+{:04X}>", u32::from(c))
            }
        })
        .collect()
}

/// Why `name` cannot be an environment name, if it cannot: empty, control or invisible characters
/// (zero-width, bidi controls, soft hyphen, fillers, whitespace other than a plain space), or letters of
/// more than one script (UTS #39 single-script rule: `рroduction` with a Cyrillic `р` is refused, a name
/// entirely in one script is fine).
pub fn check(name: &str) -> Result<(), String> {
    if name.trim().is_empty() {
        return Err("is empty".into());
    }
    let hidden: Vec<String> = name
        .chars()
        .filter(|&c| invisible(c))
        .map(describe)
        .collect();
    if !hidden.is_empty() {
        return Err(format!(
            "contains {} that cannot be seen in a workflow file: {}",
            if hidden.len() == 1 {
                "a character"
            } else {
                "characters"
            },
            hidden.join(", ")
        ));
    }
    if !name.is_single_script() {
        return Err(format!("mixes scripts: {}", scripts(name)));
    }
    Ok(())
}

/// Checks `name` and, when it is not ASCII, that it does not look like (UTS #39 skeleton) another of the
/// `known` names without being it.
pub fn check_against<'k>(
    name: &str,
    known: impl IntoIterator<Item = &'k str>,
) -> Result<(), String> {
    check(name)?;
    if name.is_ascii() {
        return Ok(());
    }
    let k = key(name);
    let skeleton: String = unicode_security::skeleton(&k).collect();
    for other in known {
        let ok = key(other);
        if ok != k && unicode_security::skeleton(&ok).collect::<String>() == skeleton {
            return Err(format!(
                "looks like `{other}` but is a different name ({})",
                scripts(name)
            ));
        }
    }
    Ok(())
}

/// The fix shown with a refused name: the known name it looks like, else the name without its invisible
/// characters.
#[must_use]
pub fn fix<'k>(name: &str, known: impl IntoIterator<Item = &'k str>) -> String {
    let skeleton = |s: &str| unicode_security::skeleton(&key(s)).collect::<String>();
    let looks = skeleton(name);
    let example = known
        .into_iter()
        .find(|k| skeleton(k) == looks)
        .map(str::to_owned)
        .unwrap_or_else(|| {
            let plain: String = name.chars().filter(|&c| !invisible(c)).collect();
            if plain.trim().is_empty() || check(&plain).is_err() {
                "production".to_owned()
            } else {
                plain
            }
        });
    format!(
        "Retype the name in plain letters of one script, e.g. `{example}` (environment names are compared case-insensitively, as GitHub does)"
    )
}

/// Control characters, Unicode default-ignorable code points (zero-width, bidi controls, variation
/// selectors, tags, fillers) and whitespace other than U+0020.
fn invisible(c: char) -> bool {
    if c.is_control() || (c.is_whitespace() && c != ' ') {
        return true;
    }
    matches!(
        u32::from(c),
        0x00AD
            | 0x034F
            | 0x061C
            | 0x115F..=0x1160
            | 0x17B4..=0x17B5
            | 0x180B..=0x180F
            | 0x200B..=0x200F
            | 0x202A..=0x202E
            | 0x2060..=0x206F
            | 0x2800
            | 0x3164
            | 0xFE00..=0xFE0F
            | 0xFEFF
            | 0xFFA0
            | 0xFFF0..=0xFFFB
            | 0x1BCA0..=0x1BCA3
            | 0x1D173..=0x1D17A
            | 0xE0000..=0xE0FFF
    )
}

fn describe(c: char) -> String {
    let name = match u32::from(c) {
        0x00AD => " (SOFT HYPHEN)",
        0x200B => " (ZERO WIDTH SPACE)",
        0x200C => " (ZERO WIDTH NON-JOINER)",
        0x200D => " (ZERO WIDTH JOINER)",
        0x200E => " (LEFT-TO-RIGHT MARK)",
        0x200F => " (RIGHT-TO-LEFT MARK)",
        0x202A..=0x202E | 0x2066..=0x2069 => " (bidi control)",
        0x2060 => " (WORD JOINER)",
        0xFEFF => " (ZERO WIDTH NO-BREAK SPACE)",
        0x00A0 => " (NO-BREAK SPACE)",
        _ => "",
    };
    format!("U+{:04X}{name}", u32::from(c))
}

/// `Cyrillic (`р` U+0440), Latin (`roduction`)`: the letters of each script, in order of appearance.
fn scripts(name: &str) -> String {
    let mut groups: Vec<(Script, String)> = Vec::new();
    for c in name.chars() {
        let s = c.script();
        if matches!(s, Script::Common | Script::Inherited | Script::Unknown) {
            continue;
        }
        match groups.iter_mut().find(|(g, _)| *g == s) {
            Some((_, chars)) => chars.push(c),
            None => groups.push((s, c.to_string())),
        }
    }
    groups
        .iter()
        .map(|(s, chars)| {
            let codes = if chars.is_ascii() {
                String::new()
            } else {
                format!(
                    " {}",
                    chars
                        .chars()
                        .map(|c| format!("U+{:04X}", u32::from(c)))
                        .collect::<Vec<_>>()
                        .join(" ")
                )
            };
            format!("{} (`{chars}`{codes})", s.full_name())
        })
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_compare_case_insensitively() {
        assert!(same("Production", "production"));
        assert!(same("PRODUCTION", " production "));
        assert!(!same("prod", "production"));
    }

    #[test]
    fn plain_names_pass_in_any_single_script() {
        for n in [
            "production",
            "prod-eu 1",
            "Staging_2",
            "продакшн",
            "本番環境",
            "ステージング",
        ] {
            assert_eq!(check(n), Ok(()), "{n}");
        }
    }

    #[test]
    fn invisible_characters_are_refused_and_shown() {
        let e = check("pro\u{200B}duction").unwrap_err();
        assert!(e.contains("U+200B (ZERO WIDTH SPACE)"), "{e}");
        assert_eq!(visible("pro\u{200B}duction"), "pro<U+200B>duction");
        assert!(check("production\u{202E}").is_err());
        assert!(check("prod\u{00A0}eu").is_err());
        assert!(check("prod\nx").is_err());
        assert!(check("  ").is_err());
    }

    #[test]
    fn mixed_scripts_are_refused_naming_each_script() {
        let e = check("\u{0440}roduction").unwrap_err();
        assert_eq!(
            e,
            "mixes scripts: Cyrillic (`\u{0440}` U+0440), Latin (`roduction`)"
        );
        assert_eq!(visible("\u{0440}roduction"), "<U+0440>roduction");
    }

    #[test]
    fn a_whole_script_look_alike_of_a_known_name_is_refused() {
        // Cyrillic "сех" (U+0441 U+0435 U+0445) is single-script and looks like Latin "cex".
        let fake = "\u{0441}\u{0435}\u{0445}";
        assert_eq!(check(fake), Ok(()));
        let e = check_against(fake, ["cex", "dev"]).unwrap_err();
        assert!(e.starts_with("looks like `cex`"), "{e}");
        assert!(fix(fake, ["dev", "cex"]).contains("e.g. `cex`"));
        assert!(fix("\u{0440}roduction", ["dev", "production"]).contains("e.g. `production`"));
        assert!(fix("pro\u{200B}d", ["dev"]).contains("e.g. `prod`"));
        assert_eq!(check_against("CEX", ["cex"]), Ok(()));
    }
}
