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

/// Write all files or none: stage each as a temporary file, then rename them all. Names may
/// hold subdirectories (`x.aerleon/def/networks.yaml`); missing directories are created and,
/// when staging fails, removed again.
pub fn write_all(dir: &Path, files: &[OutFile]) -> Result<Vec<PathBuf>> {
    for f in files {
        check_name(&f.name)?;
    }
    let mut created: Vec<PathBuf> = Vec::new();
    create_dirs(dir, &mut created)
        .with_context(|| format!("creating output directory {}", dir.display()))?;
    let mut staged: Vec<(PathBuf, PathBuf)> = Vec::new();
    let result = (|| -> Result<()> {
        for f in files {
            let target = dir.join(&f.name);
            let parent = target.parent().unwrap_or(dir).to_path_buf();
            create_dirs(&parent, &mut created)
                .with_context(|| format!("creating directory {}", parent.display()))?;
            let base = target
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let tmp = parent.join(format!(".{base}.{}.tmp", std::process::id()));
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
        // Deepest first; only directories this call created (and so empty again).
        for d in created.iter().rev() {
            let _ = fs::remove_dir(d);
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

/// An output name is relative and stays inside the output directory.
fn check_name(name: &str) -> Result<()> {
    let p = Path::new(name);
    let ok = !name.is_empty()
        && p.components()
            .all(|c| matches!(c, std::path::Component::Normal(_)));
    if ok {
        Ok(())
    } else {
        anyhow::bail!("output name `{name}` must be a relative path without `..`")
    }
}

/// `create_dir_all`, remembering each directory it made (outermost first).
fn create_dirs(dir: &Path, created: &mut Vec<PathBuf>) -> std::io::Result<()> {
    if dir.as_os_str().is_empty() || dir.is_dir() {
        return Ok(());
    }
    if let Some(parent) = dir.parent() {
        create_dirs(parent, created)?;
    }
    match fs::create_dir(dir) {
        Ok(()) => {
            created.push(dir.to_path_buf());
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && dir.is_dir() => Ok(()),
        Err(e) => Err(e),
    }
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
