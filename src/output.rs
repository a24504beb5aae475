//! Writing outputs atomically: every file goes to a temporary file in its own directory and is
//! renamed into place only when all of them rendered, so an error leaves nothing half-written
//! and existing files untouched.

use std::collections::HashSet;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

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
    let stage = Stage::new(dir)?;
    for f in files {
        stage.add(f)?;
    }
    stage.commit()
}

/// Files staged as temporary files in their own directories, renamed into place by
/// [`Stage::commit`]. Dropped without a commit (an error part-way), it removes every temporary
/// file and every directory it created, so nothing is left behind. Several threads may write
/// files at once, each straight into its temporary file: a large generation never holds a
/// whole rendered file in memory.
pub struct Stage {
    dir: PathBuf,
    /// Part of every temporary name (asked once: it is a system call).
    pid: u32,
    inner: Mutex<Staging>,
    committed: bool,
}

#[derive(Default)]
struct Staging {
    created: Vec<PathBuf>,
    /// (temporary, final) by file id; `None` once dropped as a duplicate.
    staged: Vec<Option<(PathBuf, PathBuf)>>,
    /// Directories known to exist (8,000 Windows scripts share one).
    ready: HashSet<PathBuf>,
}

impl Stage {
    /// Creates the output directory (and its missing parents) now.
    pub fn new(dir: &Path) -> Result<Stage> {
        let mut inner = Staging::default();
        let made = create_dirs(dir, &mut inner.created);
        let stage = Stage {
            dir: dir.to_path_buf(),
            pid: std::process::id(),
            inner: Mutex::new(inner),
            committed: false,
        };
        made.with_context(|| format!("creating output directory {}", dir.display()))?;
        Ok(stage)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Staging> {
        // A panic elsewhere cannot leave the lists half-updated: keep cleaning up.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Nothing staged yet.
    pub fn is_empty(&self) -> bool {
        self.lock().staged.iter().all(Option::is_none)
    }

    /// Write one file to its temporary name (flushed to disk by [`Stage::commit`]).
    pub fn add(&self, f: &OutFile) -> Result<usize> {
        self.write(&f.name, |w| Ok(w.write_all(f.content.as_bytes())?))
    }

    /// Stage the file `name` as `body` writes it, straight into its temporary file (unbuffered:
    /// `body` writes large pieces or through [`crate::render::buffered`]); returns the file's id
    /// (for [`Stage::same`]).
    pub fn write(
        &self,
        name: &str,
        body: impl FnOnce(&mut dyn Write) -> Result<()>,
    ) -> Result<usize> {
        check_name(name)?;
        let target = self.dir.join(name);
        let parent = target.parent().unwrap_or(&self.dir).to_path_buf();
        let base = target
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let (id, tmp) = {
            let mut st = self.lock();
            if !st.ready.contains(&parent) {
                create_dirs(&parent, &mut st.created)
                    .with_context(|| format!("creating directory {}", parent.display()))?;
                st.ready.insert(parent.clone());
            }
            // The id keeps two files of one name (two targets share a file) apart.
            let id = st.staged.len();
            let tmp = parent.join(format!(".{base}.{}.{id}.tmp", self.pid));
            // Listed before it exists, so a failure from here on still removes it.
            st.staged.push(Some((tmp.clone(), target.clone())));
            (id, tmp)
        };
        // Unbuffered: the renderers write through their own buffer or in large pieces (a
        // second buffer here copied every byte of output once more).
        let file = fs::File::create(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
        write_reporting(file, &target, body)?;
        fail_point(name)?;
        Ok(id)
    }

    /// Whether the files staged as `first` and `dup` (two targets writing one name) have the
    /// same content; `dup` is dropped either way, `first` stays.
    pub fn same(&self, first: usize, dup: usize) -> Result<bool> {
        let (a, b) = {
            let mut st = self.lock();
            let a = st.staged.get(first).cloned().flatten();
            let b = st.staged.get_mut(dup).and_then(Option::take);
            (a, b)
        };
        let (Some((a, _)), Some((b, _))) = (a, b) else {
            return Ok(false);
        };
        let read = |p: &Path| fs::read(p).with_context(|| format!("reading back {}", p.display()));
        let same = read(&a)? == read(&b)?;
        let _ = fs::remove_file(&b);
        Ok(same)
    }

    /// Rename every staged file into place.
    pub fn commit(mut self) -> Result<Vec<PathBuf>> {
        let staged: Vec<(PathBuf, PathBuf)> =
            self.lock().staged.iter().flatten().cloned().collect();
        // The data must be on disk before the renames make it visible, or a crash could leave
        // an empty file under a final name. Concurrent fsyncs share journal commits (one after
        // another, 833 Windows scripts took twice as long to write).
        sync_files(&staged)?;
        self.committed = true;
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
        let st = self.lock();
        for (tmp, _) in st.staged.iter().flatten() {
            let _ = fs::remove_file(tmp);
        }
        // Deepest first; only directories this stage created (and so empty again).
        for d in st.created.iter().rev() {
            let _ = fs::remove_dir(d);
        }
    }
}

/// Runs `body` on `w`. A failed write (a full disk) is reported as writing `path`, whatever
/// the body made of it (minijinja's "I/O error during rendering", a bare OS error from the
/// JSON writer); the body's own errors (a template's, with its line) pass unchanged.
fn write_reporting<W: Write>(
    w: W,
    path: &Path,
    body: impl FnOnce(&mut dyn Write) -> Result<()>,
) -> Result<()> {
    struct Watched<W> {
        w: W,
        failed: Option<std::io::Error>,
    }
    impl<W> Watched<W> {
        /// Remembers a failure (not an interruption, which `write_all` retries).
        fn note<T>(&mut self, r: std::io::Result<T>) -> std::io::Result<T> {
            r.inspect_err(|e| {
                if e.kind() != std::io::ErrorKind::Interrupted {
                    self.failed = Some(std::io::Error::new(e.kind(), e.to_string()));
                }
            })
        }
    }
    impl<W: Write> Write for Watched<W> {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            let r = self.w.write(buf);
            self.note(r)
        }
        fn flush(&mut self) -> std::io::Result<()> {
            let r = self.w.flush();
            self.note(r)
        }
    }
    let mut watched = Watched { w, failed: None };
    let done = body(&mut watched);
    match watched.failed {
        Some(e) => Err(e).with_context(|| format!("writing {}", path.display())),
        None => done,
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
    fn a_duplicate_is_compared_by_its_content_and_dropped() {
        let root = tempfile::tempdir().unwrap();
        let stage = Stage::new(root.path()).unwrap();
        let first = stage.add(&file("sub/a.txt", "alpha")).unwrap();
        let same = stage.add(&file("sub/a.txt", "alpha")).unwrap();
        let other = stage.add(&file("sub/a.txt", "beta")).unwrap();
        assert_eq!(entries(&root.path().join("sub")).len(), 3);
        assert!(stage.same(first, same).unwrap());
        assert!(!stage.same(first, other).unwrap());
        // Both duplicates are gone; the first stays and is the one renamed.
        assert_eq!(entries(&root.path().join("sub")).len(), 1);
        assert_eq!(stage.commit().unwrap().len(), 1);
        assert_eq!(
            fs::read_to_string(root.path().join("sub/a.txt")).unwrap(),
            "alpha"
        );
    }

    #[test]
    fn a_file_is_streamed_into_its_temporary_name_and_a_failure_removes_it() {
        let root = tempfile::tempdir().unwrap();
        let stage = Stage::new(root.path()).unwrap();
        stage
            .write("big.txt", |w| {
                for i in 0..10_000 {
                    writeln!(w, "line {i}")?;
                }
                Ok(())
            })
            .unwrap();
        let err = stage
            .write("half.txt", |w| {
                w.write_all(b"half")?;
                anyhow::bail!("template failed")
            })
            .unwrap_err();
        assert_eq!(err.to_string(), "template failed");
        drop(stage);
        assert!(entries(root.path()).is_empty());
    }

    #[test]
    fn a_failed_write_is_reported_with_its_file_and_a_body_error_as_it_is() {
        /// Takes `room` bytes, then fails like a full disk; interrupted once first when
        /// `interrupt` is set.
        struct Full {
            room: usize,
            interrupt: bool,
        }
        impl Write for Full {
            fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
                if std::mem::take(&mut self.interrupt) {
                    return Err(std::io::Error::from(std::io::ErrorKind::Interrupted));
                }
                if self.room == 0 {
                    return Err(std::io::Error::from(std::io::ErrorKind::StorageFull));
                }
                let n = buf.len().min(self.room);
                self.room -= n;
                Ok(n)
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let path = Path::new("/out/x.json");
        // A serialiser that turns the failure into its own error.
        let err = write_reporting(
            Full {
                room: 3,
                interrupt: false,
            },
            path,
            |w| {
                serde_json::to_writer(w, &vec!["a long enough value"; 10])
                    .map_err(|e| anyhow::anyhow!("serialising: {e}"))
            },
        )
        .unwrap_err();
        assert_eq!(err.to_string(), "writing /out/x.json");
        assert!(format!("{err:#}").contains("no storage space"), "{err:#}");
        // A template error with room to spare stays the template's.
        let err = write_reporting(
            Full {
                room: 100,
                interrupt: false,
            },
            path,
            |w| {
                w.write_all(b"ok")?;
                anyhow::bail!("rendering t.j2: undefined value (in t.j2:3)")
            },
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "rendering t.j2: undefined value (in t.j2:3)"
        );
        assert!(write_reporting(
            Full {
                room: 100,
                interrupt: false,
            },
            path,
            |w| Ok(w.write_all(b"ok")?)
        )
        .is_ok());
        // An interrupted write that write_all retries is not a failure.
        let retried = Full {
            room: 100,
            interrupt: true,
        };
        assert!(write_reporting(retried, path, |w| Ok(w.write_all(b"ok")?)).is_ok());
    }

    #[test]
    fn a_stage_dropped_without_commit_leaves_nothing() {
        let root = tempfile::tempdir().unwrap();
        let out = root.path().join("new/out");
        {
            let stage = Stage::new(&out).unwrap();
            stage.add(&file("a.txt", "a")).unwrap();
            stage.add(&file("sub/b.txt", "b")).unwrap();
            assert_eq!(
                entries(&out),
                vec![format!(".a.txt.{}.0.tmp", std::process::id()), "sub".into()]
            );
        }
        // The directories it made are gone too.
        assert!(!root.path().join("new").exists());
    }

    #[test]
    fn a_commit_renames_every_file_into_place() {
        let root = tempfile::tempdir().unwrap();
        fs::write(root.path().join("a.txt"), "old").unwrap();
        let stage = Stage::new(root.path()).unwrap();
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
        let stage = Stage::new(root.path()).unwrap();
        for bad in ["../x", "/etc/x", "", "a/../../x"] {
            assert!(stage.add(&file(bad, "x")).is_err(), "{bad}");
        }
    }
}
