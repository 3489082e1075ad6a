//! Embeds the hash of the sources in the binary (`stevedore --version`), so CI can prove that the
//! prebuilt `dist/` binary matches the sources without rebuilding it. `scripts/source-hash` computes the
//! same value with coreutils: sha256 of the sorted "`<sha256>  <path>`" lines of every hashed file.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        let p = e.path();
        if p.is_dir() {
            files(&p, out);
        } else {
            out.push(p);
        }
    }
}

fn main() {
    let mut list = vec![
        PathBuf::from("Cargo.toml"),
        PathBuf::from("Cargo.lock"),
        PathBuf::from("build.rs"),
    ];
    files(Path::new("src"), &mut list);
    let mut lines: Vec<String> = list
        .iter()
        .filter_map(|p| {
            let bytes = std::fs::read(p).ok()?;
            Some(format!(
                "{}  {}\n",
                hex::encode(Sha256::digest(&bytes)),
                p.display()
            ))
        })
        .collect();
    lines.sort_by(|a, b| a.as_bytes()[66..].cmp(&b.as_bytes()[66..]));
    let hash = hex::encode(Sha256::digest(lines.concat().as_bytes()));
    println!("cargo:rustc-env=STEVEDORE_SOURCE_HASH={}", &hash[..16]);
    println!("cargo:rerun-if-changed=src");
    println!("cargo:rerun-if-changed=Cargo.toml");
    println!("cargo:rerun-if-changed=Cargo.lock");
    println!("cargo:rerun-if-changed=build.rs");
}
