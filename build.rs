//! Embeds every `catalogue/*.toml` and `templates/*.j2` in the binary, sorted by name, so the
//! installed tool needs nothing at run time and a new file needs no code change.

use std::{env, fs, path::Path};

fn main() {
    embed("catalogue", ".toml", "catalogue_files.rs");
    embed("templates", ".j2", "template_files.rs");
}

fn embed(sub: &str, ext: &str, out_name: &str) {
    // Read when the script runs, not when it was compiled: a build script compiled for one
    // checkout can be reused by another sharing the target directory.
    let manifest = env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    let dir = Path::new(&manifest).join(sub);
    println!("cargo:rerun-if-changed={}", dir.display());
    let mut names: Vec<String> = fs::read_dir(&dir)
        .expect("directory next to Cargo.toml")
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(ext))
        .collect();
    names.sort();
    let mut out = String::from("[\n");
    for n in &names {
        let path = dir.join(n);
        println!("cargo:rerun-if-changed={}", path.display());
        out.push_str(&format!(
            "    ({n:?}, include_str!({:?})),\n",
            path.display().to_string()
        ));
    }
    out.push(']');
    let dest = Path::new(&env::var("OUT_DIR").unwrap()).join(out_name);
    fs::write(dest, out).unwrap();
}
