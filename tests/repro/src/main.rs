//! Prints values whose code carries source paths: a registry crate's (serde_json's errors and panics),
//! the standard library's, this crate's (`file!()`, a panic location) and generated code's (OUT_DIR).
include!(concat!(env!("OUT_DIR"), "/generated.rs"));

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (file, tag) = generated();
    let v: serde_json::Value =
        serde_json::from_str(args.get(1).map_or("{\"a\": [1, 2]}", String::as_str))
            .unwrap_or(serde_json::Value::Null);
    println!(
        "{} {} {} {}",
        file!(),
        file,
        tag,
        hex::encode(v.to_string())
    );
    // A panic location in this crate and an index panic inside the standard library.
    let n: usize = args.len();
    if n > 3 {
        panic!("too many arguments: {}", args[n + 1]);
    }
}
