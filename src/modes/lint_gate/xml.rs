//! Small helpers over quick-xml's streaming reader shared by the JUnit and Cobertura parsers.

use std::collections::HashMap;
use std::io::BufRead;
use std::path::Path;

use quick_xml::Reader;
use quick_xml::events::{BytesStart, Event};

use super::parsed::{Format, ParseError};
pub(crate) use crate::xml::entity;

/// Reads the document of `reader` to its end, handing every event to `each`; a malformed document is an
/// error of `file` read as `format`.
pub(crate) fn each_event<R: BufRead>(
    mut reader: Reader<R>,
    file: &Path,
    format: Format,
    mut each: impl FnMut(Event<'_>),
) -> Result<(), ParseError> {
    let mut buf = Vec::new();
    loop {
        let ev = reader.read_event_into(&mut buf).map_err(|e| {
            ParseError::malformed(
                file,
                format,
                format!("at byte {}: {e}", reader.error_position()),
            )
        })?;
        if matches!(ev, Event::Eof) {
            return Ok(());
        }
        each(ev);
        buf.clear();
    }
}

/// A document without its root element (`saw_root` false) is refused as `missing` (`no <coverage>
/// element`).
pub(crate) fn require_root(
    saw_root: bool,
    file: &Path,
    format: Format,
    missing: &str,
) -> Result<(), ParseError> {
    if saw_root {
        Ok(())
    } else {
        Err(ParseError::malformed(file, format, missing))
    }
}

/// The attributes of an element, unescaped, by local name.
pub(crate) fn attrs(e: &BytesStart<'_>) -> HashMap<String, String> {
    let mut out = HashMap::new();
    for a in e.attributes().with_checks(false).flatten() {
        let key = a.key.local_name().as_ref().to_owned();
        let value = match a.normalized_value(quick_xml::XmlVersion::Implicit1_0) {
            Ok(v) => v.into_owned(),
            Err(_) => a.value.clone().into_owned(),
        };
        out.insert(key, value);
    }
    out
}

/// The local element name.
pub(crate) fn name(e: &BytesStart<'_>) -> String {
    e.local_name().as_ref().to_ascii_lowercase()
}
