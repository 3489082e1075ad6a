//! Environment names, as GitHub treats them: case-insensitive, and never invisible or look-alike.
//!
//! GitHub compares environment names case-insensitively (`Production` and `production` are one environment,
//! with one set of protection rules), so stevedore does too: the `environment` input, the keys of
//! `environments` and `trigger-policy` are all compared through [`key`], a Unicode *compatibility caseless*
//! form (Unicode §3.13 D145: canonical decomposition, full case folding, compatibility normalisation), so
//! `PRODUCTION`, `ℙroduction` and `productﬁon` all have the key `production`. The OIDC token's
//! `environment` claim is compared more strictly, see [`same_claim`].
//!
//! A name that only *looks* like another — a zero-width space inside it, a bidi control, a Cyrillic `р`
//! among Latin letters, a compatibility character (`ℙ`, `ﬁ`, `ⓟ`, fullwidth `ｐ`), a combining mark (`i` +
//! U+0307, or `İ`, whose case folding is `i` + U+0307) — would otherwise escape the rule written for the
//! real one, so [`check`] refuses it (exit 2), showing the hidden characters as `<U+XXXX>`.

use std::borrow::Cow;

use icu_casemap::CaseMapper;
use icu_normalizer::{ComposingNormalizerBorrowed, DecomposingNormalizerBorrowed};
use unicode_script::{Script, UnicodeScript};
use unicode_security::MixedScript;

/// Unicode compatibility caseless folding (D145): `NFKC(casefold(NFKD(casefold(NFD(s)))))`. Two strings
/// are compatibility caseless matches exactly when their folds are equal (D145 ends in NFKD; NFKC of an
/// NFKD string is a bijection on them, so equality is kept and the result stays composed).
fn fold(s: &str) -> String {
    let cm = CaseMapper::new();
    let nfd = DecomposingNormalizerBorrowed::new_nfd().normalize(s);
    let once = cm.fold_string(&nfd);
    let nfkd = DecomposingNormalizerBorrowed::new_nfkd().normalize(&once);
    let twice = cm.fold_string(&nfkd);
    ComposingNormalizerBorrowed::new_nfkc()
        .normalize(&twice)
        .into_owned()
}

fn nfc(s: &str) -> Cow<'_, str> {
    ComposingNormalizerBorrowed::new_nfc().normalize(s)
}

/// The form two names are compared in: trimmed, then folded as Unicode compatibility caseless matching
/// (D145) does — case folded in full (`PRODUCTION`, `ß`/`ss`), compatibility characters replaced by their
/// plain letters (`ℙ` -> `p`, `ﬁ` -> `fi`, `ⓟ` -> `p`), composed. GitHub: environment names are not
/// case-sensitive.
#[must_use]
pub fn key(name: &str) -> String {
    fold(name.trim())
}

/// Whether `a` and `b` name the same environment.
#[must_use]
pub fn same(a: &str, b: &str) -> bool {
    key(a) == key(b)
}

/// Whether the OIDC token's `environment` claim names `environment`: the claim must itself be a name
/// [`check`] accepts (no compatibility character, combining mark, invisible character or mixed scripts),
/// and equal `environment` but for letter case. Stricter than [`same`] on purpose: a job declaring the
/// GitHub environment `productﬁon` (which GitHub keeps apart from `production`, with none of its required
/// reviewers) must not meet the claim rule of `production`.
#[must_use]
pub fn same_claim(claim: &str, environment: &str) -> bool {
    check(claim).is_ok() && claim.trim().to_lowercase() == environment.trim().to_lowercase()
}

/// The UTS #39 confusable skeleton of the name's [`key`], folded again (the skeleton maps `ℙ` to `P`, which
/// the comparison must not tell from `p`): equal skeletons look alike.
#[must_use]
pub fn skeleton(name: &str) -> String {
    let s: String = unicode_security::skeleton(&key(name)).collect();
    fold(&s)
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

/// Why `name` cannot be an environment name, if it cannot: empty; control or invisible characters
/// (zero-width, bidi controls, soft hyphen, fillers, whitespace other than a plain space); compatibility
/// characters (those NFKC replaces: `ℙ`, `ﬁ`, `ⓟ`, fullwidth letters, superscripts); a combining mark that
/// is no script's own letter part (script Inherited: U+0300–U+036F and the like) left once the name is
/// composed and case folded (`i` + U+0307, `İ`; a precomposed `é` is fine, Devanagari vowel signs are
/// Devanagari); letters of more than one script (UTS #39 single-script rule: `рroduction` with a Cyrillic
/// `р` is refused, a name entirely in one script is fine).
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
    let composed = nfc(name);
    let compatibility: Vec<String> = composed
        .chars()
        .filter_map(|c| {
            let one = c.to_string();
            let plain = ComposingNormalizerBorrowed::new_nfkc().normalize(&one);
            (plain != one).then(|| {
                format!(
                    "U+{:04X} (`{c}`, a compatibility form of `{}`)",
                    u32::from(c),
                    visible(&plain)
                )
            })
        })
        .collect();
    if !compatibility.is_empty() {
        return Err(format!(
            "contains {}: {}",
            if compatibility.len() == 1 {
                "a compatibility character"
            } else {
                "compatibility characters"
            },
            compatibility.join(", ")
        ));
    }
    let marks: Vec<String> = composed
        .chars()
        .filter_map(|c| {
            let folded = fold(&c.to_string());
            let mark = folded.chars().find(|&m| combining(m))?;
            Some(if combining(c) {
                format!("U+{:04X} (a combining mark)", u32::from(c))
            } else {
                format!(
                    "U+{:04X} (`{c}`, whose case folding is `{}`, with the combining mark U+{:04X})",
                    u32::from(c),
                    visible(&folded),
                    u32::from(mark)
                )
            })
        })
        .collect();
    if !marks.is_empty() {
        return Err(format!(
            "contains {}: {}",
            if marks.len() == 1 {
                "a combining mark"
            } else {
                "combining marks"
            },
            marks.join(", ")
        ));
    }
    if !name.is_single_script() {
        return Err(format!("mixes scripts: {}", scripts(name)));
    }
    Ok(())
}

/// A combining mark of no script of its own (Script=Inherited: the diacritics U+0300–U+036F, U+1AB0…,
/// U+20D0…, the Japanese voicing marks U+3099/U+309A when nothing composes them, …).
fn combining(c: char) -> bool {
    c.script() == Script::Inherited
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
    let looks = skeleton(name);
    for other in known {
        if key(other) != k && skeleton(other) == looks {
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
    let looks = skeleton(name);
    let example = known
        .into_iter()
        .find(|k| skeleton(k) == looks)
        .map(str::to_owned)
        .unwrap_or_else(|| {
            // Without the invisible characters, compatibility forms replaced, combining marks dropped.
            let shown: String = name.chars().filter(|&c| !invisible(c)).collect();
            let plain: String = fold(&shown).chars().filter(|&c| !combining(c)).collect();
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

/// What an environment name reads as, for the default trigger policy ([`class`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Class {
    Production,
    Staging,
}

impl Class {
    /// The default rule a name of this class is held to.
    #[must_use]
    pub const fn rule(self) -> &'static str {
        match self {
            Class::Production => "production",
            Class::Staging => "staging",
        }
    }
}

/// Words that make a name read as production (compared folded, see [`words`]). `preprod` is here on
/// purpose: a pre-production environment usually holds production data or credentials, and when a name is
/// in doubt the stricter rule wins — a `trigger-policy` rule for it says otherwise, explicitly.
const PRODUCTION_WORDS: &[&str] = &[
    "prod",
    "prd",
    "production",
    "live",
    "preprod",
    "preprd",
    "preproduction",
    "prelive",
];

/// Words that make a name read as staging, when no word makes it read as production.
const STAGING_WORDS: &[&str] = &["stag", "stage", "staging", "stg"];

/// The words of an environment name, each folded ([`key`]): split at every character that is not a
/// letter or digit (`eu-prod`, `prod_eu`, `prod.eu`, `prod eu`), where a lower-case letter meets an
/// upper-case one (`euProd`), and where letters meet digits (`prod2`).
#[must_use]
pub fn words(name: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut word = String::new();
    let mut prev: Option<char> = None;
    for c in name.chars() {
        if !c.is_alphanumeric() {
            if !word.is_empty() {
                out.push(key(&word));
                word.clear();
            }
            prev = None;
            continue;
        }
        if let Some(p) = prev {
            let camel = p.is_lowercase() && c.is_uppercase();
            let digits = p.is_numeric() != c.is_numeric();
            if (camel || digits) && !word.is_empty() {
                out.push(key(&word));
                word.clear();
            }
        }
        word.push(c);
        prev = Some(c);
    }
    if !word.is_empty() {
        out.push(key(&word));
    }
    out
}

/// What `name` reads as: [`Class::Production`] when any of its [`words`] is `prod`, `prd`, `production`,
/// `live`, `preprod`, `preprd`, `preproduction` or `prelive`; else [`Class::Staging`] when any is `stag`,
/// `stage`, `staging` or `stg`; else nothing. Production wins (`prod-staging` reads as production).
#[must_use]
pub fn class(name: &str) -> Option<Class> {
    let w = words(name);
    let any = |set: &[&str]| w.iter().any(|w| set.contains(&w.as_str()));
    if any(PRODUCTION_WORDS) {
        Some(Class::Production)
    } else if any(STAGING_WORDS) {
        Some(Class::Staging)
    } else {
        None
    }
}

/// Whether `name` reads as production ([`class`]).
#[must_use]
pub fn production_like(name: &str) -> bool {
    class(name) == Some(Class::Production)
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
            "café",
            "उत्पादन",
            "Straße",
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
        // Issue 31: each hidden character is named, so the reader knows what to delete.
        for (c, named) in [
            ('\u{00AD}', "U+00AD (SOFT HYPHEN)"),
            ('\u{200C}', "U+200C (ZERO WIDTH NON-JOINER)"),
            ('\u{200D}', "U+200D (ZERO WIDTH JOINER)"),
            ('\u{200E}', "U+200E (LEFT-TO-RIGHT MARK)"),
            ('\u{200F}', "U+200F (RIGHT-TO-LEFT MARK)"),
            ('\u{202A}', "U+202A (bidi control)"),
            ('\u{2069}', "U+2069 (bidi control)"),
            ('\u{2060}', "U+2060 (WORD JOINER)"),
            ('\u{FEFF}', "U+FEFF (ZERO WIDTH NO-BREAK SPACE)"),
            ('\u{00A0}', "U+00A0 (NO-BREAK SPACE)"),
            ('\u{3164}', "workflow file: U+3164"),
        ] {
            let e = check(&format!("prod{c}eu")).unwrap_err();
            assert!(e.contains(named), "{named}: {e}");
        }
        // Issue 31: white space that is neither a control character nor changed by NFKC, and of no
        // script (so no other check sees it), is invisible too.
        for sep in ['\u{2028}', '\u{2029}'] {
            let e = check(&format!("prod{sep}eu")).unwrap_err();
            assert!(e.contains(&format!("U+{:04X}", u32::from(sep))), "{e}");
        }
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

    /// Issue 25 finding 8: each look-alike of `production` is refused, naming what hides in it.
    #[test]
    fn compatibility_characters_and_combining_marks_are_refused() {
        for (fake, says) in [
            (
                "\u{2119}roduction",
                "U+2119 (`\u{2119}`, a compatibility form of `P`)",
            ),
            (
                "product\u{FB01}on",
                "U+FB01 (`\u{FB01}`, a compatibility form of `fi`)",
            ),
            (
                "\u{24DF}\u{24E1}\u{24DE}\u{24D3}\u{24E4}\u{24D2}\u{24E3}\u{24D8}\u{24DE}\u{24DD}",
                "U+24DF (`\u{24DF}`, a compatibility form of `p`)",
            ),
            ("\u{FF50}roduction", "U+FF50"),
            ("producti\u{0307}on", "U+0307 (a combining mark)"),
            (
                "PRODUCT\u{0130}ON",
                "U+0130 (`\u{0130}`, whose case folding is `i<U+0307>`, with the combining mark U+0307)",
            ),
        ] {
            let e = check(fake).unwrap_err();
            assert!(e.contains(says), "{fake}: {e}");
            // The fix spells the name in plain letters: `ﬁ` is the two letters `fi`.
            let plain = if fake.contains('\u{FB01}') {
                "productfion"
            } else {
                "production"
            };
            let f = fix(fake, ["dev", "staging", "production"]);
            assert!(f.contains(&format!("e.g. `{plain}`")), "{fake}: {f}");
        }
        // A precomposed letter, or one composed from a letter and its mark, is a letter.
        assert_eq!(check("caf\u{00E9}"), Ok(()));
        assert_eq!(check("cafe\u{0301}"), Ok(()));
    }

    #[test]
    fn keys_are_compatibility_caseless() {
        // `ﬁ` is the ligature of `f` and `i`: `productﬁon` folds to `productfion`, another name.
        assert_eq!(key("product\u{FB01}on"), "productfion");
        for fake in [
            "\u{2119}roduction",
            "\u{24DF}\u{24E1}\u{24DE}\u{24D3}\u{24E4}\u{24D2}\u{24E3}\u{24D8}\u{24DE}\u{24DD}",
            "\u{FF30}RODUCTION",
            "PRODUCTION",
        ] {
            assert_eq!(key(fake), "production", "{fake}");
            assert!(same(fake, "production"), "{fake}");
        }
        assert!(same("STRASSE", "stra\u{00DF}e"));
        assert!(same("caf\u{00E9}", "CAFE\u{0301}"));
        // The skeleton compares after folding: `ℙ` (skeleton `P`) looks like `p`.
        assert_eq!(skeleton("\u{2119}roduction"), skeleton("production"));
        assert_eq!(skeleton("\u{0440}roduction"), skeleton("production"));
    }

    /// Issue 31: the look-alike check refuses only a name that looks like *another* known name; a
    /// non-ASCII name that looks like none of them, or is one of them, passes.
    #[test]
    fn only_a_look_alike_of_another_known_name_is_refused() {
        let known = ["production", "dev", "\u{043F}\u{0440}\u{043E}\u{0434}"];
        assert_eq!(
            check_against("\u{043F}\u{0440}\u{043E}\u{0434}", known),
            Ok(())
        );
        assert_eq!(
            check_against("\u{041F}\u{0420}\u{041E}\u{0414}", known),
            Ok(())
        );
        assert_eq!(check_against("\u{672C}\u{756A}", known), Ok(()));
        assert_eq!(
            check_against("caf\u{00E9}", ["cafe\u{0301}", "dev"]),
            Ok(())
        );
        // Cyrillic `сех` looks like Latin `cex`, which is in the list, and is another name.
        assert!(check_against("\u{0441}\u{0435}\u{0445}", ["cex"]).is_err());
        // Refused names stay refused, known or not.
        assert!(check_against("pro\u{200B}d", ["pro\u{200B}d"]).is_err());
        // ASCII names are what they look like: `rn` and `m` are typed on purpose.
        assert_eq!(skeleton("burn"), skeleton("bum"));
        assert_eq!(check_against("burn", ["bum"]), Ok(()));
    }

    /// Issue 31: with no known name to point at, the fix spells the name in plain letters, or falls
    /// back to an example when nothing plain is left.
    #[test]
    fn the_fix_spells_the_name_plainly_or_gives_an_example() {
        assert!(fix("producti\u{0307}on", []).contains("e.g. `production`"));
        assert!(fix("\u{2119}rod", []).contains("e.g. `prod`"));
        assert!(fix("qa\u{200B}", ["dev"]).contains("e.g. `qa`"));
        // Nothing left, or still mixed scripts: the example is `production`.
        assert!(fix("\u{200B}\u{200D}", []).contains("e.g. `production`"));
        assert!(fix("\u{0440}oll", []).contains("e.g. `production`"));
        assert!(fix("x", []).contains("compared case-insensitively, as GitHub does"));
    }

    #[test]
    fn the_claim_is_compared_strictly() {
        assert!(same_claim("production", "production"));
        assert!(same_claim("Production", "production"));
        // A different GitHub environment (no required reviewers) never meets production's claim rule.
        assert!(!same_claim("product\u{FB01}on", "production"));
        assert!(!same_claim("\u{2119}roduction", "production"));
        assert!(!same_claim("\u{0440}roduction", "production"));
        assert!(!same_claim("pro\u{200B}duction", "production"));
        assert!(!same_claim("staging", "production"));
    }
}
