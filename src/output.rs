//! Writing outputs atomically: every file goes to a temporary file in its own directory and is
//! renamed into place only when all of them rendered, so an error leaves nothing half-written
//! and existing files untouched.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

/// A rendered output file, relative to the output directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutFile {
    pub name: String,
    pub content: String,
}

/// Write all files or none: stage each as a temporary file, then rename them all.
pub fn write_all(dir: &Path, files: &[OutFile]) -> Result<Vec<PathBuf>> {
    fs::create_dir_all(dir)
        .with_context(|| format!("creating output directory {}", dir.display()))?;
    let mut staged: Vec<(PathBuf, PathBuf)> = Vec::new();
    let result = (|| -> Result<()> {
        for f in files {
            let target = dir.join(&f.name);
            let tmp = dir.join(format!(".{}.{}.tmp", f.name, std::process::id()));
            let mut h =
                fs::File::create(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
            staged.push((tmp.clone(), target));
            h.write_all(f.content.as_bytes())
                .with_context(|| format!("writing {}", tmp.display()))?;
            h.sync_all()
                .with_context(|| format!("syncing {}", tmp.display()))?;
            fail_point(&f.name)?;
        }
        Ok(())
    })();
    if let Err(e) = result {
        for (tmp, _) in &staged {
            let _ = fs::remove_file(tmp);
        }
        return Err(e);
    }
    let mut written = Vec::new();
    for (tmp, target) in staged {
        fs::rename(&tmp, &target).with_context(|| format!("renaming into {}", target.display()))?;
        written.push(target);
    }
    Ok(written)
}

/// Write one file atomically.
pub fn write_one(path: &Path, content: &str) -> Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .with_context(|| format!("{} is not a file path", path.display()))?
        .to_string_lossy()
        .into_owned();
    write_all(
        dir,
        &[OutFile {
            name,
            content: content.to_string(),
        }],
    )
    .map(|_| ())
}

/// Tests inject a failure after staging a named file (`CTXFW_FAIL_AFTER=<file name>`), to prove
/// that a failure part-way leaves nothing behind.
fn fail_point(name: &str) -> Result<()> {
    match std::env::var("CTXFW_FAIL_AFTER") {
        Ok(n) if n == name => {
            Err(std::io::Error::other(format!("injected failure after staging {name}")).into())
        }
        _ => Ok(()),
    }
}
