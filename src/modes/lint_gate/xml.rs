//! Small helpers over quick-xml's streaming reader shared by the JUnit and Cobertura parsers.

use std::collections::HashMap;
use std::io::BufRead;
use std::path::Path;

use quick_xml::Reader;
use quick_xml::events::{BytesStart, Event};

use super::parsed::{Format, ParseError};
pub(crate) use crate::xml::entity;

/// The next event of `reader`, read into `buf`; a malformed document is an error of `file` read as `format`.
pub(crate) fn next_event<'b, R: BufRead>(
    reader: &mut Reader<R>,
    buf: &'b mut Vec<u8>,
    file: &Path,
    format: Format,
) -> Result<Event<'b>, ParseError> {
    reader.read_event_into(buf).map_err(|e| {
        ParseError::malformed(
            file,
            format,
            format!("at byte {}: {e}", reader.error_position()),
        )
    })
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
