//! Files with `std::fs`'s API whose calls park the task, not the thread:
//! each call runs on the blocking pool ([`spawn_blocking`]), and the
//! runtime serves the other tasks meanwhile.
//!
//! ```
//! fibrio::run(|| -> std::io::Result<()> {
//!     let dir = std::env::temp_dir().join(format!("fibrio-fs-doc-{}", std::process::id()));
//!     fibrio::fs::create_dir_all(&dir)?;
//!     let path = dir.join("hello.txt");
//!     fibrio::fs::write(&path, "hello")?;
//!     assert_eq!(fibrio::fs::read_to_string(&path)?, "hello");
//!     assert_eq!(fibrio::fs::metadata(&path)?.len(), 5);
//!     fibrio::fs::remove_dir_all(&dir)?;
//!     Ok(())
//! })
//! .unwrap();
//! ```
//!
//! # Invariants
//!
//! * Every call hands its work to the blocking pool and parks the task
//!   until it is done: one round trip to a pool thread per call, so read
//!   and write big chunks (wrap a [`File`] in a `BufReader`/`BufWriter`).
//! * Outside a fibrio task the calls run on the calling thread, as
//!   `spawn_blocking` does.
//! * Every call is a cancellation checkpoint. A cancelled task unwinds at
//!   once; the system call already handed to the pool runs to its end (a
//!   write may still happen), and its result is dropped.
//! * The API may later run on io_uring; it does not promise which thread
//!   does the work.

use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use std::fs::{Metadata, OpenOptions, Permissions};

use crate::spawn_blocking;

/// Runs `f` on the blocking pool, turning a panic into an error.
fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> io::Result<T> + Send + 'static,
) -> io::Result<T> {
    spawn_blocking(f).map_err(|err| io::Error::other(format!("fibrio::fs: {err}")))?
}

/// [`std::fs::read`] on the blocking pool: the whole file.
///
/// # Errors
///
/// As [`std::fs::read`].
///
/// # Cancellation
///
/// A checkpoint (see the module docs).
///
/// # Examples
///
/// ```
/// fibrio::run(|| {
///     assert!(!fibrio::fs::read("/proc/self/stat").unwrap().is_empty());
/// });
/// ```
pub fn read(path: impl AsRef<Path>) -> io::Result<Vec<u8>> {
    let path = path.as_ref().to_owned();
    blocking(move || std::fs::read(path))
}

/// [`std::fs::read_to_string`] on the blocking pool.
///
/// # Errors
///
/// As [`std::fs::read_to_string`] (`InvalidData` if not UTF-8).
///
/// # Cancellation
///
/// A checkpoint.
///
/// # Examples
///
/// ```
/// fibrio::run(|| {
///     assert!(fibrio::fs::read_to_string("/proc/self/stat").unwrap().contains(' '));
/// });
/// ```
pub fn read_to_string(path: impl AsRef<Path>) -> io::Result<String> {
    let path = path.as_ref().to_owned();
    blocking(move || std::fs::read_to_string(path))
}

/// [`std::fs::write`] on the blocking pool: creates or truncates the file.
///
/// # Errors
///
/// As [`std::fs::write`].
///
/// # Cancellation
///
/// A checkpoint; a write already handed to the pool still happens.
///
/// # Examples
///
/// ```
/// fibrio::run(|| {
///     let path = std::env::temp_dir().join(format!("fibrio-write-{}", std::process::id()));
///     fibrio::fs::write(&path, b"data").unwrap();
///     assert_eq!(fibrio::fs::read(&path).unwrap(), b"data");
///     fibrio::fs::remove_file(&path).unwrap();
/// });
/// ```
pub fn write(path: impl AsRef<Path>, contents: impl AsRef<[u8]>) -> io::Result<()> {
    let path = path.as_ref().to_owned();
    let contents = contents.as_ref().to_vec();
    blocking(move || std::fs::write(path, contents))
}

/// [`std::fs::metadata`] on the blocking pool.
///
/// # Errors
///
/// As [`std::fs::metadata`] (`NotFound`, ...).
///
/// # Cancellation
///
/// A checkpoint.
///
/// # Examples
///
/// ```
/// fibrio::run(|| {
///     assert!(fibrio::fs::metadata("/").unwrap().is_dir());
/// });
/// ```
pub fn metadata(path: impl AsRef<Path>) -> io::Result<Metadata> {
    let path = path.as_ref().to_owned();
    blocking(move || std::fs::metadata(path))
}

/// [`std::fs::create_dir_all`] on the blocking pool.
///
/// # Errors
///
/// As [`std::fs::create_dir_all`].
///
/// # Cancellation
///
/// A checkpoint.
///
/// # Examples
///
/// ```
/// fibrio::run(|| {
///     let dir = std::env::temp_dir().join(format!("fibrio-mkdir-{}/a/b", std::process::id()));
///     fibrio::fs::create_dir_all(&dir).unwrap();
///     assert!(fibrio::fs::metadata(&dir).unwrap().is_dir());
///     fibrio::fs::remove_dir_all(dir.parent().unwrap().parent().unwrap()).unwrap();
/// });
/// ```
pub fn create_dir_all(path: impl AsRef<Path>) -> io::Result<()> {
    let path = path.as_ref().to_owned();
    blocking(move || std::fs::create_dir_all(path))
}

/// [`std::fs::remove_file`] on the blocking pool.
///
/// # Errors
///
/// As [`std::fs::remove_file`].
///
/// # Cancellation
///
/// A checkpoint.
///
/// # Examples
///
/// ```
/// fibrio::run(|| {
///     let err = fibrio::fs::remove_file("/no/such/file").unwrap_err();
///     assert_eq!(err.kind(), std::io::ErrorKind::NotFound);
/// });
/// ```
pub fn remove_file(path: impl AsRef<Path>) -> io::Result<()> {
    let path = path.as_ref().to_owned();
    blocking(move || std::fs::remove_file(path))
}

/// [`std::fs::remove_dir_all`] on the blocking pool.
///
/// # Errors
///
/// As [`std::fs::remove_dir_all`].
///
/// # Cancellation
///
/// A checkpoint.
///
/// # Examples
///
/// ```
/// fibrio::run(|| {
///     let dir = std::env::temp_dir().join(format!("fibrio-rmdir-{}", std::process::id()));
///     fibrio::fs::create_dir_all(dir.join("x")).unwrap();
///     fibrio::fs::remove_dir_all(&dir).unwrap();
///     assert!(fibrio::fs::metadata(&dir).is_err());
/// });
/// ```
pub fn remove_dir_all(path: impl AsRef<Path>) -> io::Result<()> {
    let path = path.as_ref().to_owned();
    blocking(move || std::fs::remove_dir_all(path))
}

/// [`std::fs::rename`] on the blocking pool.
///
/// # Errors
///
/// As [`std::fs::rename`].
///
/// # Cancellation
///
/// A checkpoint.
///
/// # Examples
///
/// ```
/// fibrio::run(|| {
///     let dir = std::env::temp_dir();
///     let (a, b) = (dir.join(format!("fibrio-mv-a-{}", std::process::id())), dir.join(format!("fibrio-mv-b-{}", std::process::id())));
///     fibrio::fs::write(&a, "x").unwrap();
///     fibrio::fs::rename(&a, &b).unwrap();
///     assert_eq!(fibrio::fs::read_to_string(&b).unwrap(), "x");
///     fibrio::fs::remove_file(&b).unwrap();
/// });
/// ```
pub fn rename(from: impl AsRef<Path>, to: impl AsRef<Path>) -> io::Result<()> {
    let (from, to) = (from.as_ref().to_owned(), to.as_ref().to_owned());
    blocking(move || std::fs::rename(from, to))
}

/// The paths of the entries of a directory ([`std::fs::read_dir`]),
/// read in full on the blocking pool.
///
/// # Errors
///
/// As [`std::fs::read_dir`], or an error reading an entry.
///
/// # Cancellation
///
/// A checkpoint.
///
/// # Examples
///
/// ```
/// fibrio::run(|| {
///     let entries = fibrio::fs::read_dir("/").unwrap();
///     assert!(entries.iter().any(|p| p.ends_with("proc")));
/// });
/// ```
pub fn read_dir(path: impl AsRef<Path>) -> io::Result<Vec<PathBuf>> {
    let path = path.as_ref().to_owned();
    blocking(move || {
        std::fs::read_dir(path)?
            .map(|entry| entry.map(|e| e.path()))
            .collect()
    })
}

/// An open file whose reads, writes and seeks run on the blocking pool:
/// `Read`, `Write` and `Seek` for `File` and `&File`, as
/// [`std::fs::File`].
///
/// Each call is one round trip to a pool thread, and copies the data
/// once (the pool thread cannot borrow the task's buffer): use big
/// buffers, or wrap it in `BufReader`/`BufWriter`.
///
/// # Examples
///
/// ```
/// use std::io::{Read, Seek, SeekFrom, Write};
///
/// fibrio::run(|| -> std::io::Result<()> {
///     let path = std::env::temp_dir().join(format!("fibrio-file-{}", std::process::id()));
///     let mut file = fibrio::fs::File::create(&path)?;
///     file.write_all(b"hello world")?;
///     file.sync_all()?;
///     let mut file = fibrio::fs::File::open(&path)?;
///     file.seek(SeekFrom::Start(6))?;
///     let mut rest = String::new();
///     file.read_to_string(&mut rest)?;
///     assert_eq!(rest, "world");
///     fibrio::fs::remove_file(&path)
/// })
/// .unwrap();
/// ```
#[derive(Debug)]
pub struct File {
    file: Arc<std::fs::File>,
}

impl File {
    /// Opens a file to read ([`std::fs::File::open`]).
    ///
    /// # Errors
    ///
    /// As [`std::fs::File::open`].
    ///
    /// # Cancellation
    ///
    /// A checkpoint.
    ///
    /// # Examples
    ///
    /// ```
    /// fibrio::run(|| {
    ///     assert!(fibrio::fs::File::open("/proc/self/stat").is_ok());
    /// });
    /// ```
    pub fn open(path: impl AsRef<Path>) -> io::Result<File> {
        let path = path.as_ref().to_owned();
        blocking(move || std::fs::File::open(path)).map(File::from_std)
    }

    /// Creates or truncates a file to write ([`std::fs::File::create`]).
    ///
    /// # Errors
    ///
    /// As [`std::fs::File::create`].
    ///
    /// # Cancellation
    ///
    /// A checkpoint.
    ///
    /// # Examples
    ///
    /// ```
    /// fibrio::run(|| {
    ///     let path = std::env::temp_dir().join(format!("fibrio-create-{}", std::process::id()));
    ///     fibrio::fs::File::create(&path).unwrap();
    ///     fibrio::fs::remove_file(&path).unwrap();
    /// });
    /// ```
    pub fn create(path: impl AsRef<Path>) -> io::Result<File> {
        let path = path.as_ref().to_owned();
        blocking(move || std::fs::File::create(path)).map(File::from_std)
    }

    /// Opens a file with `options`.
    ///
    /// # Errors
    ///
    /// As [`OpenOptions::open`].
    ///
    /// # Cancellation
    ///
    /// A checkpoint.
    ///
    /// # Examples
    ///
    /// ```
    /// fibrio::run(|| {
    ///     let mut options = fibrio::fs::OpenOptions::new();
    ///     options.read(true);
    ///     assert!(fibrio::fs::File::open_with("/proc/self/stat", options).is_ok());
    /// });
    /// ```
    pub fn open_with(path: impl AsRef<Path>, options: OpenOptions) -> io::Result<File> {
        let path = path.as_ref().to_owned();
        blocking(move || options.open(path)).map(File::from_std)
    }

    /// Wraps an open [`std::fs::File`].
    ///
    /// # Examples
    ///
    /// ```
    /// let file = fibrio::fs::File::from_std(std::fs::File::open("/proc/self/stat").unwrap());
    /// # drop(file);
    /// ```
    pub fn from_std(file: std::fs::File) -> File {
        File {
            file: Arc::new(file),
        }
    }

    /// The file's metadata.
    ///
    /// # Errors
    ///
    /// As [`std::fs::File::metadata`].
    ///
    /// # Cancellation
    ///
    /// A checkpoint.
    ///
    /// # Examples
    ///
    /// ```
    /// fibrio::run(|| {
    ///     let file = fibrio::fs::File::open("/").unwrap();
    ///     assert!(file.metadata().unwrap().is_dir());
    /// });
    /// ```
    pub fn metadata(&self) -> io::Result<Metadata> {
        let file = self.file.clone();
        blocking(move || file.metadata())
    }

    /// Flushes data and metadata to the disk ([`std::fs::File::sync_all`]).
    ///
    /// # Errors
    ///
    /// As [`std::fs::File::sync_all`].
    ///
    /// # Cancellation
    ///
    /// A checkpoint.
    ///
    /// # Examples
    ///
    /// See [`File`].
    pub fn sync_all(&self) -> io::Result<()> {
        let file = self.file.clone();
        blocking(move || file.sync_all())
    }

    /// Truncates or extends the file ([`std::fs::File::set_len`]).
    ///
    /// # Errors
    ///
    /// As [`std::fs::File::set_len`].
    ///
    /// # Cancellation
    ///
    /// A checkpoint.
    ///
    /// # Examples
    ///
    /// ```
    /// fibrio::run(|| {
    ///     let path = std::env::temp_dir().join(format!("fibrio-len-{}", std::process::id()));
    ///     let file = fibrio::fs::File::create(&path).unwrap();
    ///     file.set_len(10).unwrap();
    ///     assert_eq!(file.metadata().unwrap().len(), 10);
    ///     fibrio::fs::remove_file(&path).unwrap();
    /// });
    /// ```
    pub fn set_len(&self, size: u64) -> io::Result<()> {
        let file = self.file.clone();
        blocking(move || file.set_len(size))
    }
}

impl Read for &File {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let file = self.file.clone();
        let len = buf.len();
        let data = blocking(move || {
            let mut data = vec![0; len];
            let n = (&*file).read(&mut data)?;
            data.truncate(n);
            Ok(data)
        })?;
        buf[..data.len()].copy_from_slice(&data);
        Ok(data.len())
    }
}

impl Write for &File {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let file = self.file.clone();
        let data = buf.to_vec();
        blocking(move || (&*file).write(&data))
    }

    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        let file = self.file.clone();
        let data = buf.to_vec();
        blocking(move || (&*file).write_all(&data))
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Seek for &File {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        let file = self.file.clone();
        blocking(move || (&*file).seek(pos))
    }
}

impl Read for File {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        (&*self).read(buf)
    }
}

impl Write for File {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        (&*self).write(buf)
    }

    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        (&*self).write_all(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Seek for File {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        (&*self).seek(pos)
    }
}
