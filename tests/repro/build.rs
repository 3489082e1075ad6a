//! Generated code in OUT_DIR: its `file!()` is a path in the target directory.
fn main() {
    let out = std::env::var("OUT_DIR").unwrap_or_default();
    let code = format!(
        "pub fn generated() -> (&'static str, String) {{ (file!(), \"{}\".to_owned()) }}\n",
        hex::encode("generated")
    );
    if let Err(e) = std::fs::write(std::path::Path::new(&out).join("generated.rs"), code) {
        panic!("cannot write {out}/generated.rs: {e}");
    }
    println!("cargo:rerun-if-changed=build.rs");
}
