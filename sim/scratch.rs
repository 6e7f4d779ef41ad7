//! Scratch directories for tests, shared by the library's unit tests and the `sim` suite:
//! one fresh directory per test under the system's temp directory, removed when the test
//! passes and kept, its path printed, when it fails. A passing suite leaves nothing behind
//! (each run used to leave hundreds of directories in /tmp), and a failure can still be read.

use std::ops::Deref;
use std::path::Path;

/// A test's own directory; see the module's doc. Dereferences to its path.
pub struct Scratch(tempfile::TempDir);

/// A fresh, empty directory for the test `name`: `taskdist-NAME-XXXXXX`, unique even when
/// tests of several processes or threads run at once.
pub fn scratch(name: &str) -> Scratch {
    let dir = tempfile::Builder::new()
        .prefix(&format!("taskdist-{name}-"))
        .tempdir()
        .expect("a scratch directory under the system's temp directory");
    Scratch(dir)
}

impl Deref for Scratch {
    type Target = Path;

    fn deref(&self) -> &Path {
        self.0.path()
    }
}

impl AsRef<Path> for Scratch {
    fn as_ref(&self) -> &Path {
        self
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        // Dropped while a test fails: keep what it left for whoever reads the failure.
        // Otherwise the `TempDir`, dropped next, removes the directory.
        if std::thread::panicking() {
            self.0.disable_cleanup(true);
            eprintln!("kept {} for the failed test", self.0.path().display());
        }
    }
}
