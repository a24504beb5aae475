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
    let mut stage = Stage::new(dir)?;
    for f in files {
        stage.add(f)?;
    }
    stage.commit()
}

/// Files staged as temporary files in their own directories, renamed into place by
/// [`Stage::commit`]. Dropped without a commit (an error part-way), it removes every temporary
/// file and every directory it created, so nothing is left behind. Staging file by file lets a
/// large generation write each file as soon as it is rendered instead of holding them all.
pub struct Stage {
    dir: PathBuf,
    created: Vec<PathBuf>,
    staged: Vec<(PathBuf, PathBuf)>,
    committed: bool,
    /// The directory the last file went into, known to exist.
    ready: Option<PathBuf>,
    /// Part of every temporary name (asked once: it is a system call).
    pid: u32,
}

impl Stage {
    /// Creates the output directory (and its missing parents) now.
    pub fn new(dir: &Path) -> Result<Stage> {
        let mut created = Vec::new();
        let made = create_dirs(dir, &mut created);
        let stage = Stage {
            dir: dir.to_path_buf(),
            created,
            staged: Vec::new(),
            committed: false,
            ready: None,
            pid: std::process::id(),
        };
        made.with_context(|| format!("creating output directory {}", dir.display()))?;
        Ok(stage)
    }

    /// Nothing staged yet.
    pub fn is_empty(&self) -> bool {
        self.staged.is_empty()
    }

    /// Write one file to its temporary name (flushed to disk by [`Stage::commit`]).
    pub fn add(&mut self, f: &OutFile) -> Result<()> {
        check_name(&f.name)?;
        let target = self.dir.join(&f.name);
        let parent = target.parent().unwrap_or(&self.dir).to_path_buf();
        // One check per directory, not per file (8,000 Windows scripts share one).
        if self.ready.as_ref() != Some(&parent) {
            create_dirs(&parent, &mut self.created)
                .with_context(|| format!("creating directory {}", parent.display()))?;
            self.ready = Some(parent.clone());
        }
        let base = target
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let tmp = parent.join(format!(".{base}.{}.tmp", self.pid));
        let mut h =
            fs::File::create(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
        self.staged.push((tmp.clone(), target));
        h.write_all(f.content.as_bytes())
            .with_context(|| format!("writing {}", tmp.display()))?;
        fail_point(&f.name)
    }

    /// Whether the file staged under `name` holds `content` (read back from its temporary
    /// file: two targets may write the same file).
    pub fn staged_content_is(&self, name: &str, content: &str) -> Result<bool> {
        let target = self.dir.join(name);
        match self.staged.iter().find(|(_, t)| *t == target) {
            Some((tmp, _)) => {
                let on_disk =
                    fs::read(tmp).with_context(|| format!("reading back {}", tmp.display()))?;
                Ok(on_disk == content.as_bytes())
            }
            None => Ok(false),
        }
    }

    /// Rename every staged file into place.
    pub fn commit(mut self) -> Result<Vec<PathBuf>> {
        // The data must be on disk before the renames make it visible, or a crash could leave
        // an empty file under a final name. Concurrent fsyncs share journal commits (one after
        // another, 833 Windows scripts took twice as long to write).
        sync_files(&self.staged)?;
        self.committed = true;
        let staged = std::mem::take(&mut self.staged);
        let mut written = Vec::new();
        for (i, (tmp, target)) in staged.iter().enumerate() {
            if let Err(e) = fs::rename(tmp, target) {
                // Leave no temporary file behind (the ones renamed are in place).
                for (t, _) in &staged[i..] {
                    let _ = fs::remove_file(t);
                }
                return Err(e).with_context(|| format!("renaming into {}", target.display()));
            }
            written.push(target.clone());
        }
        Ok(written)
    }
}

impl Drop for Stage {
    fn drop(&mut self) {
        if self.committed {
            return;
        }
        for (tmp, _) in &self.staged {
            let _ = fs::remove_file(tmp);
        }
        // Deepest first; only directories this stage created (and so empty again).
        for d in self.created.iter().rev() {
            let _ = fs::remove_dir(d);
        }
    }
}

/// fsync every staged file, on a few threads at once.
fn sync_files(staged: &[(PathBuf, PathBuf)]) -> Result<()> {
    const THREADS: usize = 8;
    let chunk = staged.len().div_ceil(THREADS).max(1);
    std::thread::scope(|s| {
        let handles: Vec<_> = staged
            .chunks(chunk)
            .map(|part| {
                s.spawn(move || -> Result<()> {
                    for (tmp, _) in part {
                        fs::File::open(tmp)
                            .and_then(|f| f.sync_all())
                            .with_context(|| format!("syncing {}", tmp.display()))?;
                    }
                    Ok(())
                })
            })
            .collect();
        handles
            .into_iter()
            .try_for_each(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
    })
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

#[cfg(test)]
mod tests {
    use super::*;

    fn file(name: &str, content: &str) -> OutFile {
        OutFile {
            name: name.into(),
            content: content.into(),
        }
    }

    fn entries(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = fs::read_dir(dir)
            .map(|r| {
                r.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        v.sort();
        v
    }

    #[test]
    fn a_staged_file_is_compared_by_its_content() {
        let root = tempfile::tempdir().unwrap();
        let mut stage = Stage::new(root.path()).unwrap();
        stage.add(&file("sub/a.txt", "alpha")).unwrap();
        assert!(stage.staged_content_is("sub/a.txt", "alpha").unwrap());
        assert!(!stage.staged_content_is("sub/a.txt", "beta").unwrap());
        assert!(!stage.staged_content_is("b.txt", "alpha").unwrap());
    }

    #[test]
    fn a_stage_dropped_without_commit_leaves_nothing() {
        let root = tempfile::tempdir().unwrap();
        let out = root.path().join("new/out");
        {
            let mut stage = Stage::new(&out).unwrap();
            stage.add(&file("a.txt", "a")).unwrap();
            stage.add(&file("sub/b.txt", "b")).unwrap();
            assert_eq!(
                entries(&out),
                vec![
                    ".a.txt.".to_string() + &std::process::id().to_string() + ".tmp",
                    "sub".into()
                ]
            );
        }
        // The directories it made are gone too.
        assert!(!root.path().join("new").exists());
    }

    #[test]
    fn a_commit_renames_every_file_into_place() {
        let root = tempfile::tempdir().unwrap();
        fs::write(root.path().join("a.txt"), "old").unwrap();
        let mut stage = Stage::new(root.path()).unwrap();
        assert!(stage.is_empty());
        stage.add(&file("a.txt", "new")).unwrap();
        stage.add(&file("x.aerleon/def/n.yaml", "n")).unwrap();
        // Nothing visible before the commit.
        assert_eq!(
            fs::read_to_string(root.path().join("a.txt")).unwrap(),
            "old"
        );
        let written = stage.commit().unwrap();
        assert_eq!(written.len(), 2);
        assert_eq!(
            fs::read_to_string(root.path().join("a.txt")).unwrap(),
            "new"
        );
        assert_eq!(
            fs::read_to_string(root.path().join("x.aerleon/def/n.yaml")).unwrap(),
            "n"
        );
        assert_eq!(entries(root.path()), vec!["a.txt", "x.aerleon"]);
    }

    #[test]
    fn names_outside_the_directory_are_refused() {
        let root = tempfile::tempdir().unwrap();
        let mut stage = Stage::new(root.path()).unwrap();
        for bad in ["../x", "/etc/x", "", "a/../../x"] {
            assert!(stage.add(&file(bad, "x")).is_err(), "{bad}");
        }
    }
}
