//! The `traffic` input: how the alias moves from the previous version to the new one.
//!
//! Grammar (case-insensitive, words separated by blanks):
//!
//! ```text
//! all-at-once
//! canary <W>% <T>     W of the traffic for T, then 100 %
//! linear <W>% <T>     W, 2W, 3W, ... each for T, then 100 %
//! ```
//!
//! `W` is a percentage strictly between 0 and 100 (decimals allowed, e.g. `2.5%`); `T` is a duration with a
//! unit: `30s`, `5m`, `1h`, `1m30s`. Seconds are accepted so tests and short smoke deploys need no scaling.
//! CodeDeploy's names are accepted too (`AllAtOnce`, `Canary10Percent5Minutes`,
//! `Linear10PercentEvery1Minute`), so a SAM `DeploymentPreference.Type` can be copied over.

use std::fmt;
use std::time::Duration;

/// A traffic-shifting strategy.
#[derive(Clone, Debug, PartialEq)]
pub enum Traffic {
    AllAtOnce,
    /// `weight` percent for `bake`, then everything.
    Canary {
        weight: f64,
        bake: Duration,
    },
    /// `weight` more percent every `bake`, then everything.
    Linear {
        weight: f64,
        bake: Duration,
    },
}

/// One step of a schedule: the new version gets `weight` percent, then health is watched for `bake`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Step {
    /// Percent of traffic on the new version (100 = the alias points at it with no routing).
    pub weight: f64,
    /// How long to watch health at this weight before the next step (zero for the final step).
    pub bake: Duration,
}

const FIX: &str = "Use `all-at-once`, `canary 10% 5m` (10 % for 5 minutes, then all) or `linear 10% 1m` (10 % more every minute)";

impl Traffic {
    /// Parses the `traffic` input; the error says what is wrong with which part.
    pub fn parse(input: &str) -> Result<Traffic, String> {
        let words: Vec<&str> = input.split_whitespace().collect();
        let Some(first) = words.first() else {
            return Err("is empty".into());
        };
        let kind = first.to_ascii_lowercase();
        match (kind.as_str(), words.len()) {
            ("all-at-once" | "allatonce", 1) => Ok(Traffic::AllAtOnce),
            ("all-at-once" | "allatonce", _) => Err("`all-at-once` takes no arguments".into()),
            ("canary" | "linear", 3) => {
                let weight = parse_weight(words[1])?;
                let bake = parse_bake(words[2])?;
                Ok(if kind == "canary" {
                    Traffic::Canary { weight, bake }
                } else {
                    Traffic::Linear { weight, bake }
                })
            }
            ("canary" | "linear", n) => Err(format!(
                "`{kind}` needs a weight and a duration (got {} argument{})",
                n - 1,
                if n == 2 { "" } else { "s" }
            )),
            _ if words.len() == 1 => parse_codedeploy(first)
                .ok_or_else(|| format!("`{first}` is not a traffic strategy")),
            _ => Err(format!("`{first}` is not a traffic strategy")),
        }
    }

    /// The fix text for errors.
    #[must_use]
    pub fn fix() -> &'static str {
        FIX
    }

    /// The steps, ending with 100 %.
    #[must_use]
    pub fn steps(&self) -> Vec<Step> {
        let last = Step {
            weight: 100.0,
            bake: Duration::ZERO,
        };
        match *self {
            Traffic::AllAtOnce => vec![last],
            Traffic::Canary { weight, bake } => vec![Step { weight, bake }, last],
            Traffic::Linear { weight, bake } => {
                let mut steps = Vec::new();
                let mut k = 1.0_f64;
                // Rounded to 1/1000 % so 3 x 33.333... does not produce a 99.9999 step.
                loop {
                    let w = round3(weight * k);
                    if w >= 100.0 - 1e-9 {
                        break;
                    }
                    steps.push(Step { weight: w, bake });
                    k += 1.0;
                }
                steps.push(last);
                steps
            }
        }
    }

    /// Whether traffic is ever split between two versions.
    #[must_use]
    pub fn splits(&self) -> bool {
        !matches!(self, Traffic::AllAtOnce)
    }
}

impl fmt::Display for Traffic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Traffic::AllAtOnce => f.write_str("all-at-once"),
            Traffic::Canary { weight, bake } => {
                write!(f, "canary {}% {}", fmt_weight(*weight), fmt_duration(*bake))
            }
            Traffic::Linear { weight, bake } => {
                write!(f, "linear {}% {}", fmt_weight(*weight), fmt_duration(*bake))
            }
        }
    }
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// `10`, `2.5`.
#[must_use]
pub fn fmt_weight(w: f64) -> String {
    let s = format!("{:.3}", round3(w));
    s.trim_end_matches('0').trim_end_matches('.').to_owned()
}

/// `5m`, `1m30s`, `2s`, `500ms`.
#[must_use]
pub fn fmt_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if !ms.is_multiple_of(1000) {
        return format!("{ms}ms");
    }
    let s = d.as_secs();
    let (h, m, s) = (s / 3600, (s % 3600) / 60, s % 60);
    let mut out = String::new();
    if h > 0 {
        out.push_str(&format!("{h}h"));
    }
    if m > 0 {
        out.push_str(&format!("{m}m"));
    }
    if s > 0 || out.is_empty() {
        out.push_str(&format!("{s}s"));
    }
    out
}

fn parse_weight(w: &str) -> Result<f64, String> {
    let Some(num) = w.strip_suffix('%') else {
        return Err(format!(
            "weight `{w}` must be a percentage such as `10%` (the `%` is required)"
        ));
    };
    let v: f64 = num
        .parse()
        .ok()
        .filter(|v: &f64| v.is_finite())
        .ok_or_else(|| format!("weight `{w}` is not a number followed by `%`"))?;
    if v <= 0.0 || v >= 100.0 {
        return Err(format!(
            "weight `{w}` must be more than 0% and less than 100% (use `all-at-once` for 100%)"
        ));
    }
    if round3(v) != v {
        return Err(format!(
            "weight `{w}` has more than three decimals (Lambda routing weights are fractions with limited precision)"
        ));
    }
    Ok(v)
}

fn parse_bake(t: &str) -> Result<Duration, String> {
    if !t.ends_with(|c: char| c.is_ascii_alphabetic()) {
        return Err(format!(
            "duration `{t}` needs a unit: `s`, `m` or `h` (e.g. `5m`)"
        ));
    }
    let d = crate::inputs::parse_duration(&t.to_ascii_lowercase())
        .ok_or_else(|| format!("duration `{t}` is not a duration such as `30s`, `5m`, `1h`"))?;
    if d.is_zero() {
        return Err(format!("duration `{t}` must be longer than zero"));
    }
    Ok(d)
}

/// `AllAtOnce`, `Canary10Percent5Minutes`, `Linear10PercentEvery1Minute` (CodeDeploy / SAM names).
fn parse_codedeploy(s: &str) -> Option<Traffic> {
    if s.eq_ignore_ascii_case("AllAtOnce") {
        return Some(Traffic::AllAtOnce);
    }
    let (linear, rest) = if let Some(r) = s.strip_prefix("Canary") {
        (false, r)
    } else {
        (true, s.strip_prefix("Linear")?)
    };
    let (w, rest) = rest.split_once("Percent")?;
    let rest = if linear {
        rest.strip_prefix("Every")?
    } else {
        rest
    };
    let (m, unit) = rest.split_at(rest.find(|c: char| !c.is_ascii_digit())?);
    if unit != "Minute" && unit != "Minutes" {
        return None;
    }
    let weight: f64 = w.parse().ok().filter(|w| *w > 0.0 && *w < 100.0)?;
    let bake = Duration::from_secs(m.parse::<u64>().ok().filter(|m| *m > 0)? * 60);
    Some(if linear {
        Traffic::Linear { weight, bake }
    } else {
        Traffic::Canary { weight, bake }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    #[test]
    fn the_three_forms_parse() {
        assert_eq!(Traffic::parse("all-at-once"), Ok(Traffic::AllAtOnce));
        assert_eq!(
            Traffic::parse(" Canary  10%   5m "),
            Ok(Traffic::Canary {
                weight: 10.0,
                bake: secs(300)
            })
        );
        assert_eq!(
            Traffic::parse("linear 2.5% 1m30s"),
            Ok(Traffic::Linear {
                weight: 2.5,
                bake: secs(90)
            })
        );
        assert_eq!(
            Traffic::parse("canary 10% 2s"),
            Ok(Traffic::Canary {
                weight: 10.0,
                bake: secs(2)
            })
        );
    }

    #[test]
    fn codedeploy_names_parse() {
        assert_eq!(Traffic::parse("AllAtOnce"), Ok(Traffic::AllAtOnce));
        assert_eq!(
            Traffic::parse("Canary10Percent5Minutes"),
            Ok(Traffic::Canary {
                weight: 10.0,
                bake: secs(300)
            })
        );
        assert_eq!(
            Traffic::parse("Linear10PercentEvery1Minute"),
            Ok(Traffic::Linear {
                weight: 10.0,
                bake: secs(60)
            })
        );
        assert!(Traffic::parse("Linear10PercentEvery1Hour").is_err());
    }

    #[test]
    fn errors_name_the_bad_part() {
        let e = |s| Traffic::parse(s).unwrap_err();
        assert_eq!(e(""), "is empty");
        assert!(
            e("canary 10 5m").contains("`%` is required"),
            "{}",
            e("canary 10 5m")
        );
        assert!(e("canary 10% 5").contains("needs a unit"));
        assert!(e("canary 110% 5m").contains("less than 100%"));
        assert!(e("canary 0% 5m").contains("more than 0%"));
        assert!(e("canary x% 5m").contains("not a number"));
        assert!(e("canary 10% 0s").contains("longer than zero"));
        assert!(e("canary 10% 5q").contains("not a duration"));
        assert!(e("canary 10%").contains("needs a weight and a duration (got 1 argument)"));
        assert!(e("linear 10% 1m extra").contains("got 3 arguments"));
        assert!(e("blue-green").contains("`blue-green` is not a traffic strategy"));
        assert!(e("all-at-once now").contains("takes no arguments"));
        assert!(e("canary 10.12345% 1m").contains("three decimals"));
    }

    #[test]
    fn schedules_end_at_one_hundred() {
        let w = |t: &str| -> Vec<f64> {
            Traffic::parse(t)
                .unwrap()
                .steps()
                .iter()
                .map(|s| s.weight)
                .collect()
        };
        assert_eq!(w("all-at-once"), [100.0]);
        assert_eq!(w("canary 10% 5m"), [10.0, 100.0]);
        assert_eq!(
            w("linear 10% 1m"),
            [10.0, 20.0, 30.0, 40.0, 50.0, 60.0, 70.0, 80.0, 90.0, 100.0]
        );
        assert_eq!(w("linear 30% 1m"), [30.0, 60.0, 90.0, 100.0]);
        assert_eq!(w("linear 50% 1m"), [50.0, 100.0]);
        let steps = Traffic::parse("canary 10% 5m").unwrap().steps();
        assert_eq!(steps[0].bake, secs(300));
        assert_eq!(steps[1].bake, Duration::ZERO);
    }

    #[test]
    fn display_round_trips() {
        for s in [
            "all-at-once",
            "canary 10% 5m",
            "linear 2.5% 1m30s",
            "canary 1% 2s",
        ] {
            assert_eq!(Traffic::parse(s).unwrap().to_string(), s);
        }
    }
}
