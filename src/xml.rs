//! What the XML readers share (the AWS Query client's answers, lint-gate's JUnit and Cobertura files).

use quick_xml::events::BytesRef;

/// The text an entity reference stands for (`&amp;`, `&#10;`); an unknown entity as written.
#[must_use]
pub fn entity(r: &BytesRef<'_>) -> String {
    if r.is_char_ref() {
        return r
            .resolve_char_ref()
            .ok()
            .flatten()
            .map(String::from)
            .unwrap_or_default();
    }
    let name = r.xml10_content();
    quick_xml::escape::resolve_predefined_entity(&name)
        .map(str::to_owned)
        .unwrap_or_else(|| format!("&{name};"))
}
