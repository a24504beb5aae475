//! Writing outputs: all files or none, never a half-written file, durable once the command
//! returns, and never through a link planted in the output directory.
//!
//! Every file is staged as a temporary file in its own directory, created with a random name
//! that must not exist yet (`O_EXCL | O_NOFOLLOW`) through the descriptor of that directory;
//! the directories under the output directory are opened without following links. When all
//! are written (the large ones already written out by a helper thread as soon as each was
//! complete), one `syncfs` makes their data durable together, every final name is checked
//! (none may be a directory), and each file is renamed into place by swapping it with the file
//! it replaces (`RENAME_EXCHANGE`), so that a failure part-way swaps the earlier ones back. A
//! second `syncfs` makes the new names durable before the command returns. docs/robustness.md
//! says what is promised.

use std::fs;
use std::io::{Read, Write};
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use anyhow::{Context, Result};
use rustix::fs::{AtFlags, FileType, Mode, OFlags, RenameFlags};
use rustix::io::Errno;

use crate::HashMap;

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
    inner: Mutex<Staging>,
    /// Writes large files out while others are still rendered: see [`Stage::write_out`].
    flusher: Mutex<Option<Flusher>>,
    committed: bool,
}

/// A thread that writes out the data of the files sent to it (`fdatasync`), so that the flush
/// before the renames has less left to write.
struct Flusher {
    files: std::sync::mpsc::Sender<fs::File>,
    done: std::thread::JoinHandle<std::io::Result<()>>,
}

/// Files at least this large are written out as soon as they are complete.
const WRITE_OUT_EARLY: u64 = 8 * 1024 * 1024;

#[derive(Default)]
struct Staging {
    /// The directories files are staged in, open: the output directory first.
    dirs: Vec<Arc<OwnedFd>>,
    /// Each directory's index in `dirs`, by its path below the output directory ("" for it).
    dir_index: HashMap<String, usize>,
    /// Directories this stage made, outermost first.
    created: Vec<Made>,
    /// By file id; `None` once dropped as a duplicate.
    staged: Vec<Option<Staged>>,
    /// Random numbers for temporary names, fetched from the system 512 at a time.
    random: Vec<u64>,
}

/// A directory a stage made: a missing part of the output directory's path, or one below it
/// (in the directory of index `.0`).
enum Made {
    Path(PathBuf),
    At(usize, String),
}

#[derive(Clone)]
struct Staged {
    /// Index of its directory in [`Staging::dirs`].
    dir: usize,
    /// Its temporary name, then its name, in that directory.
    tmp: String,
    name: String,
    /// Its path below the output directory.
    path: String,
}

/// How a file was put in place, to undo it.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Placed {
    /// No file had its name: the new one is removed again.
    New,
    /// Swapped with the file it replaces, which now has the temporary name: swapped back.
    Swapped,
    /// Renamed over the file it replaces, on a file system that cannot swap: not undone.
    Replaced,
}

impl Stage {
    /// Creates the output directory (and its missing parents) now, and opens it.
    pub fn new(dir: &Path) -> Result<Stage> {
        let mut made = Vec::new();
        let created = create_dirs(dir, &mut made);
        let mut stage = Stage {
            dir: dir.to_path_buf(),
            inner: Mutex::new(Staging {
                created: made.into_iter().map(Made::Path).collect(),
                ..Staging::default()
            }),
            flusher: Mutex::new(None),
            committed: false,
        };
        created.with_context(|| format!("creating output directory {}", dir.display()))?;
        // The output directory is the one the user named, link or not; below it, no link is
        // followed.
        let at = if dir.as_os_str().is_empty() {
            Path::new(".")
        } else {
            dir
        };
        let fd = rustix::fs::open(
            at,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(std::io::Error::from)
        .with_context(|| format!("opening output directory {}", dir.display()))?;
        let inner = stage.inner.get_mut().unwrap_or_else(|p| p.into_inner());
        inner.dirs.push(Arc::new(fd));
        inner.dir_index.insert(String::new(), 0);
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
    /// `body` writes large pieces or through a `BufWriter`); returns the file's id
    /// (for [`Stage::same`]).
    pub fn write(
        &self,
        name: &str,
        body: impl FnOnce(&mut dyn Write) -> Result<()>,
    ) -> Result<usize> {
        check_name(name)?;
        let target = self.dir.join(name);
        let (sub, base) = match name.rsplit_once('/') {
            Some((sub, base)) => (sub, base),
            None => ("", name),
        };
        let (dir, fd) = self.open_dir(&mut self.lock(), sub)?;
        let (file, tmp) = create_temporary(&fd, base, || self.random())
            .with_context(|| format!("creating a temporary file for {}", target.display()))?;
        let id = {
            let mut st = self.lock();
            st.staged.push(Some(Staged {
                dir,
                tmp,
                name: base.to_string(),
                path: name.to_string(),
            }));
            st.staged.len() - 1
        };
        // Unbuffered: the renderers write through their own buffer or in large pieces (a
        // second buffer here copied every byte of output once more).
        write_reporting(&file, &target, body)?;
        fail_point("CTXFW_FAIL_AFTER", name)?;
        if file.metadata().is_ok_and(|m| m.len() >= WRITE_OUT_EARLY) {
            self.write_out(file);
        }
        Ok(id)
    }

    /// Have `file`'s data written to disk now, on the flusher thread, while other files are
    /// still rendered (the kernel would otherwise keep it in memory until the flush before the
    /// renames).
    fn write_out(&self, file: fs::File) {
        let mut flusher = self.flusher.lock().unwrap_or_else(|p| p.into_inner());
        let f = flusher.get_or_insert_with(|| {
            let (files, rx) = std::sync::mpsc::channel::<fs::File>();
            let done = std::thread::spawn(move || {
                let mut first_error = Ok(());
                for f in rx {
                    if let Err(e) = rustix::fs::fdatasync(&f) {
                        first_error = first_error.and(Err(e.into()));
                    }
                }
                first_error
            });
            Flusher { files, done }
        });
        let _ = f.files.send(file);
    }

    /// Wait for the flusher thread, if any: its first error.
    fn flushed(&self) -> std::io::Result<()> {
        let flusher = self
            .flusher
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        match flusher {
            Some(Flusher { files, done }) => {
                drop(files);
                done.join().unwrap_or_else(|p| std::panic::resume_unwind(p))
            }
            None => Ok(()),
        }
    }

    /// A random number nobody can guess.
    fn random(&self) -> std::io::Result<u64> {
        let mut st = self.lock();
        if st.random.is_empty() {
            let mut bytes = [0u8; 4096];
            let mut filled = 0;
            while filled < bytes.len() {
                filled += rustix::rand::getrandom(
                    &mut bytes[filled..],
                    rustix::rand::GetRandomFlags::empty(),
                )?;
            }
            st.random.extend(
                bytes
                    .chunks_exact(8)
                    .map(|c| u64::from_le_bytes(c.try_into().expect("8 bytes"))),
            );
        }
        Ok(st.random.pop().expect("just filled"))
    }

    /// The directory `sub` below the output directory (`a/b`), opened, made if missing; a link
    /// or a file in its way is an error: nothing is written through it.
    fn open_dir(&self, st: &mut Staging, sub: &str) -> Result<(usize, Arc<OwnedFd>)> {
        if let Some(&i) = st.dir_index.get(sub) {
            return Ok((i, st.dirs[i].clone()));
        }
        let (up, name) = sub.rsplit_once('/').unwrap_or(("", sub));
        let (parent, parent_fd) = self.open_dir(st, up)?;
        let shown = || self.dir.join(sub);
        let open = || {
            rustix::fs::openat(
                &parent_fd,
                name,
                OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::empty(),
            )
        };
        let fd = match open() {
            Err(Errno::NOENT) => {
                match rustix::fs::mkdirat(&parent_fd, name, Mode::from_bits_truncate(0o777)) {
                    Ok(()) => st.created.push(Made::At(parent, name.to_string())),
                    Err(Errno::EXIST) => {}
                    Err(e) => {
                        return Err(std::io::Error::from(e))
                            .with_context(|| format!("creating directory {}", shown().display()))
                    }
                }
                open()
            }
            other => other,
        };
        let fd = match fd {
            Ok(fd) => fd,
            Err(Errno::LOOP | Errno::NOTDIR) => {
                return Err(std::io::Error::from(std::io::ErrorKind::NotADirectory)).with_context(
                    || {
                        format!(
                            "{} is a link or a file, not a directory: ctxfw does not write through \
                             links in the output directory; remove it",
                            shown().display()
                        )
                    },
                )
            }
            Err(e) => {
                return Err(std::io::Error::from(e))
                    .with_context(|| format!("opening directory {}", shown().display()))
            }
        };
        let fd = Arc::new(fd);
        st.dirs.push(fd.clone());
        st.dir_index.insert(sub.to_string(), st.dirs.len() - 1);
        Ok((st.dirs.len() - 1, fd))
    }

    /// Whether the files staged as `first` and `dup` (two targets writing one name) have the
    /// same content; `dup` is dropped either way, `first` stays.
    pub fn same(&self, first: usize, dup: usize) -> Result<bool> {
        let (a, b, dirs) = {
            let mut st = self.lock();
            let a = st.staged.get(first).cloned().flatten();
            let b = st.staged.get_mut(dup).and_then(Option::take);
            (a, b, st.dirs.clone())
        };
        let (Some(a), Some(b)) = (a, b) else {
            return Ok(false);
        };
        let read = |s: &Staged| -> Result<Vec<u8>> {
            let fd = rustix::fs::openat(
                &*dirs[s.dir],
                s.tmp.as_str(),
                OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::empty(),
            )
            .map_err(std::io::Error::from)
            .with_context(|| format!("reading back {}", self.dir.join(&s.path).display()))?;
            let mut bytes = Vec::new();
            fs::File::from(fd).read_to_end(&mut bytes)?;
            Ok(bytes)
        };
        let same = read(&a)? == read(&b)?;
        let _ = rustix::fs::unlinkat(&*dirs[b.dir], b.tmp.as_str(), AtFlags::empty());
        Ok(same)
    }

    /// Make every staged file durable, then put them all in place, or none: see the module's
    /// documentation. Returns their paths, in the order they were staged.
    pub fn commit(mut self) -> Result<Vec<PathBuf>> {
        let (staged, dirs) = {
            let st = self.lock();
            let staged: Vec<Staged> = st.staged.iter().flatten().cloned().collect();
            (staged, st.dirs.clone())
        };
        let target = |s: &Staged| self.dir.join(&s.path);
        // The data must be durable before a rename makes it visible, or a crash could leave an
        // empty file under a final name: one flush for them all.
        self.flushed()
            .and_then(|()| sync_file_systems(&dirs))
            .context("flushing the staged files to disk")?;
        // What can be known to fail is checked before the first rename.
        let mut exists = Vec::with_capacity(staged.len());
        for s in &staged {
            let found =
                match rustix::fs::statat(&*dirs[s.dir], s.name.as_str(), AtFlags::SYMLINK_NOFOLLOW)
                {
                    Ok(st) => Some(FileType::from_raw_mode(st.st_mode)),
                    Err(Errno::NOENT) => None,
                    Err(e) => {
                        return Err(std::io::Error::from(e))
                            .with_context(|| format!("looking at {}", target(s).display()))
                    }
                };
            if found == Some(FileType::Directory) {
                return Err(std::io::Error::from(std::io::ErrorKind::IsADirectory)).with_context(
                    || {
                        format!(
                            "{} is a directory; ctxfw replaces only files",
                            target(s).display()
                        )
                    },
                );
            }
            exists.push(found.is_some());
        }
        let mut placed: Vec<Placed> = Vec::with_capacity(staged.len());
        for (s, &exists) in staged.iter().zip(&exists) {
            match place(&dirs[s.dir], s, exists) {
                Ok(p) => placed.push(p),
                Err(e) => {
                    // Undo, newest first; the stage's drop then removes the temporary names.
                    for (s, p) in staged.iter().zip(&placed).rev() {
                        undo(&dirs[s.dir], s, *p);
                    }
                    return Err(e)
                        .with_context(|| format!("renaming into {}", target(s).display()));
                }
            }
        }
        self.committed = true;
        // The files replaced now have the temporary names.
        for (s, p) in staged.iter().zip(&placed) {
            if *p == Placed::Swapped {
                let _ = rustix::fs::unlinkat(&*dirs[s.dir], s.tmp.as_str(), AtFlags::empty());
            }
        }
        sync_file_systems(&dirs).context("flushing the new file names to disk")?;
        Ok(staged.iter().map(target).collect())
    }
}

/// A new file in `dir` named after `base` with a random part, which must not exist (not even
/// as a link): a name planted in advance is never written through.
fn create_temporary(
    dir: &OwnedFd,
    base: &str,
    mut random: impl FnMut() -> std::io::Result<u64>,
) -> std::io::Result<(fs::File, String)> {
    // Short enough for a file name of 255 bytes whatever the output name.
    let base: String = base.chars().take(100).collect();
    for _ in 0..16 {
        let tmp = format!(".{base}.{:016x}.tmp", random()?);
        match rustix::fs::openat(
            dir,
            tmp.as_str(),
            OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::from_bits_truncate(0o666),
        ) {
            Ok(fd) => return Ok((fs::File::from(fd), tmp)),
            Err(Errno::EXIST) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(std::io::Error::other("no free temporary name"))
}

/// Rename `s` into place in `dir`: swapped with the file of its name when there is one, else
/// renamed where none may have appeared since; a plain rename where the file system has
/// neither.
fn place(dir: &OwnedFd, s: &Staged, exists: bool) -> std::io::Result<Placed> {
    fail_point("CTXFW_FAIL_RENAME", &s.path)?;
    let rename =
        |flags| rustix::fs::renameat_with(dir, s.tmp.as_str(), dir, s.name.as_str(), flags);
    let (flags, placed) = if exists {
        (RenameFlags::EXCHANGE, Placed::Swapped)
    } else {
        (RenameFlags::NOREPLACE, Placed::New)
    };
    match rename(flags) {
        Ok(()) => Ok(placed),
        // The file appeared, or went, since it was looked at.
        Err(Errno::EXIST) if !exists => rename(RenameFlags::EXCHANGE).map(|()| Placed::Swapped),
        Err(Errno::NOENT) if exists => rename(RenameFlags::NOREPLACE).map(|()| Placed::New),
        Err(Errno::INVAL | Errno::NOSYS | Errno::NOTSUP) => {
            rename(RenameFlags::empty()).map(|()| Placed::Replaced)
        }
        Err(e) => Err(e),
    }
    .map_err(Into::into)
}

/// Take back what [`place`] did (as far as it can).
fn undo(dir: &OwnedFd, s: &Staged, placed: Placed) {
    let _ = match placed {
        Placed::Swapped => rustix::fs::renameat_with(
            dir,
            s.tmp.as_str(),
            dir,
            s.name.as_str(),
            RenameFlags::EXCHANGE,
        ),
        Placed::New => rustix::fs::unlinkat(dir, s.name.as_str(), AtFlags::empty()),
        Placed::Replaced => Ok(()),
    };
}

/// One `syncfs` per file system the directories are on (almost always one): everything
/// written there reaches the disk, with the file system's own ordering.
fn sync_file_systems(dirs: &[Arc<OwnedFd>]) -> std::io::Result<()> {
    let mut done: Vec<u64> = Vec::new();
    for fd in dirs {
        let dev = rustix::fs::fstat(&**fd)?.st_dev;
        if !done.contains(&dev) {
            rustix::fs::syncfs(&**fd)?;
            done.push(dev);
        }
    }
    Ok(())
}

impl Drop for Stage {
    fn drop(&mut self) {
        let _ = self.flushed();
        if self.committed {
            return;
        }
        let st = self.lock();
        for s in st.staged.iter().flatten() {
            let _ = rustix::fs::unlinkat(&*st.dirs[s.dir], s.tmp.as_str(), AtFlags::empty());
        }
        // Deepest first; only directories this stage made (and so empty again).
        for d in st.created.iter().rev() {
            let _ = match d {
                Made::Path(p) => fs::remove_dir(p),
                Made::At(parent, name) => {
                    rustix::fs::unlinkat(&*st.dirs[*parent], name.as_str(), AtFlags::REMOVEDIR)
                        .map_err(Into::into)
                }
            };
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

/// An output name is relative and stays inside the output directory: parts separated by `/`,
/// none empty, `.` or `..`.
fn check_name(name: &str) -> Result<()> {
    let ok = name
        .split('/')
        .all(|part| !matches!(part, "" | "." | "..") && !part.contains('\0'));
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

/// Tests inject a failure where `var` names this output file (`CTXFW_FAIL_AFTER=<name>` after
/// staging it, `CTXFW_FAIL_RENAME=<name>` instead of renaming it), to prove that a failure
/// part-way leaves nothing behind. Only in builds for tests (the `fail-points` feature, which
/// the tests' dependency on this package turns on): a release build reads no variable.
#[cfg(any(test, feature = "fail-points"))]
fn fail_point(var: &str, name: &str) -> std::io::Result<()> {
    match std::env::var(var) {
        Ok(n) if n == name => Err(std::io::Error::other(format!(
            "injected failure ({var}) at {name}"
        ))),
        _ => Ok(()),
    }
}

#[cfg(not(any(test, feature = "fail-points")))]
fn fail_point(_: &str, _: &str) -> std::io::Result<()> {
    Ok(())
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
            let names = entries(&out);
            assert_eq!(names.len(), 2, "{names:?}");
            assert!(
                names[0].starts_with(".a.txt.") && names[0].ends_with(".tmp"),
                "{names:?}"
            );
            assert_eq!(names[1], "sub");
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
        for bad in ["../x", "/etc/x", "", "a/../../x", "a//b", "./x", "x/"] {
            assert!(stage.add(&file(bad, "x")).is_err(), "{bad}");
        }
    }

    /// Temporary names are random and made only where nothing is: two stages of one process
    /// do not share them, and a link planted under any name is never written through.
    #[test]
    fn temporary_names_are_new_files_with_random_names() {
        let root = tempfile::tempdir().unwrap();
        let (a, b) = (
            Stage::new(root.path()).unwrap(),
            Stage::new(root.path()).unwrap(),
        );
        a.add(&file("x.txt", "a")).unwrap();
        b.add(&file("x.txt", "b")).unwrap();
        let names = entries(root.path());
        assert_eq!(names.len(), 2);
        assert_ne!(names[0], names[1]);
    }

    /// A large file is written out as soon as it is complete, and still renamed with the
    /// others at the commit; dropped, the stage waits for that and removes it.
    #[test]
    fn a_large_file_is_written_out_early() {
        let root = tempfile::tempdir().unwrap();
        let big = "x".repeat(WRITE_OUT_EARLY as usize + 1);
        for commit in [false, true] {
            let stage = Stage::new(root.path()).unwrap();
            stage.add(&file("big.txt", &big)).unwrap();
            stage.add(&file("small.txt", "s")).unwrap();
            assert!(stage.flusher.lock().unwrap().is_some());
            if commit {
                stage.commit().unwrap();
            } else {
                drop(stage);
                assert!(entries(root.path()).is_empty());
            }
        }
        assert_eq!(entries(root.path()), vec!["big.txt", "small.txt"]);
        assert_eq!(
            fs::read(root.path().join("big.txt")).unwrap().len(),
            big.len()
        );
    }

    /// A link in the output directory where a subdirectory goes is an error before anything is
    /// written, and nothing reaches where it points.
    #[test]
    fn a_linked_subdirectory_is_not_written_through() {
        let root = tempfile::tempdir().unwrap();
        let elsewhere = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(elsewhere.path(), root.path().join("t.aerleon")).unwrap();
        let err = write_all(
            root.path(),
            &[file("t.nft", "new"), file("t.aerleon/def/n.yaml", "n")],
        )
        .unwrap_err();
        assert!(
            format!("{err:#}").contains("t.aerleon is a link or a file, not a directory"),
            "{err:#}"
        );
        assert!(entries(elsewhere.path()).is_empty());
        assert_eq!(entries(root.path()), vec!["t.aerleon"]);
        // Deeper down too, and a file in the way likewise.
        fs::remove_file(root.path().join("t.aerleon")).unwrap();
        fs::create_dir(root.path().join("t.aerleon")).unwrap();
        std::os::unix::fs::symlink(elsewhere.path(), root.path().join("t.aerleon/def")).unwrap();
        fs::write(root.path().join("f"), "x").unwrap();
        for name in ["t.aerleon/def/n.yaml", "f/n.yaml"] {
            assert!(
                write_all(root.path(), &[file(name, "n")]).is_err(),
                "{name}"
            );
        }
        assert!(entries(elsewhere.path()).is_empty());
    }

    /// A final name that is a link is replaced by the file; the link's target is untouched.
    #[test]
    fn a_linked_output_is_replaced_not_written_through() {
        let root = tempfile::tempdir().unwrap();
        let elsewhere = tempfile::tempdir().unwrap();
        let victim = elsewhere.path().join("victim");
        fs::write(&victim, "precious").unwrap();
        std::os::unix::fs::symlink(&victim, root.path().join("t.nft")).unwrap();
        write_all(root.path(), &[file("t.nft", "rules")]).unwrap();
        assert_eq!(fs::read_to_string(&victim).unwrap(), "precious");
        let t = root.path().join("t.nft");
        assert!(!fs::symlink_metadata(&t).unwrap().file_type().is_symlink());
        assert_eq!(fs::read_to_string(&t).unwrap(), "rules");
    }

    /// An output name held by a directory is found before any file is renamed.
    #[test]
    fn a_directory_in_place_of_an_output_stops_the_commit_before_any_rename() {
        let root = tempfile::tempdir().unwrap();
        for (n, c) in [("a.txt", "old a"), ("c.txt", "old c")] {
            fs::write(root.path().join(n), c).unwrap();
        }
        fs::create_dir(root.path().join("b.txt")).unwrap();
        let err = write_all(
            root.path(),
            &[
                file("a.txt", "new a"),
                file("b.txt", "new b"),
                file("c.txt", "new c"),
            ],
        )
        .unwrap_err();
        assert!(
            format!("{err:#}").contains("b.txt is a directory"),
            "{err:#}"
        );
        assert_eq!(entries(root.path()), vec!["a.txt", "b.txt", "c.txt"]);
        assert_eq!(
            fs::read_to_string(root.path().join("a.txt")).unwrap(),
            "old a"
        );
    }

    /// A rename that fails part-way takes back the ones before it: old files are back, new
    /// names gone, no temporary file left.
    #[test]
    fn a_failed_rename_undoes_the_earlier_ones() {
        let root = tempfile::tempdir().unwrap();
        fs::write(root.path().join("a.txt"), "old a").unwrap();
        fs::write(root.path().join("c.txt"), "old c").unwrap();
        let stage = Stage::new(root.path()).unwrap();
        for (n, c) in [
            ("a.txt", "new a"),
            ("b.txt", "new b"),
            ("c.txt", "new c"),
            ("sub/d.txt", "d"),
        ] {
            stage.add(&file(n, c)).unwrap();
        }
        let staged: Vec<Staged> = stage.lock().staged.iter().flatten().cloned().collect();
        let dirs = stage.lock().dirs.clone();
        // The first three placed, as commit does, then undone as commit does on a failure.
        let placed: Vec<Placed> = staged[..3]
            .iter()
            .map(|s| place(&dirs[s.dir], s, s.name != "b.txt").unwrap())
            .collect();
        assert_eq!(placed, [Placed::Swapped, Placed::New, Placed::Swapped]);
        assert_eq!(
            fs::read_to_string(root.path().join("c.txt")).unwrap(),
            "new c"
        );
        for (s, p) in staged.iter().zip(&placed).rev() {
            undo(&dirs[s.dir], s, *p);
        }
        drop(stage);
        assert_eq!(entries(root.path()), vec!["a.txt", "c.txt"]);
        assert_eq!(
            fs::read_to_string(root.path().join("a.txt")).unwrap(),
            "old a"
        );
        assert_eq!(
            fs::read_to_string(root.path().join("c.txt")).unwrap(),
            "old c"
        );
    }
}
