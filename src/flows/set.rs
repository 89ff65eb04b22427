//! The flows in `flows.dir`, read again whenever a file there changes: editing, adding or
//! removing a flow file takes effect at the next event or step, without a restart.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use tracing::warn;

use super::file::{Flow, load_dir};

/// What the folder looked like when it was last read: each file's name, size and mtime.
type Stamp = Vec<(PathBuf, u64, Option<SystemTime>)>;

/// The current flows of one folder.
pub struct FlowSet {
    dir: PathBuf,
    loaded: Mutex<(Stamp, Arc<Vec<Flow>>)>,
}

impl FlowSet {
    /// The flows of `dir` (none yet: read on first use).
    pub fn new(dir: &Path) -> FlowSet {
        FlowSet { dir: dir.to_path_buf(), loaded: Mutex::new((vec![Default::default()], Arc::new(vec![]))) }
    }

    /// A fixed set (tests and `flows simulate` with flows already read).
    pub fn fixed(flows: Vec<Flow>) -> FlowSet {
        FlowSet { dir: PathBuf::new(), loaded: Mutex::new((vec![], Arc::new(flows))) }
    }

    /// The flows as the folder is now. A file with errors is left out, with a warning (run
    /// `backtalk flows validate` to see them); the other flows keep running.
    pub fn current(&self) -> Arc<Vec<Flow>> {
        if self.dir.as_os_str().is_empty() {
            return self.loaded.lock().expect("flow set lock").1.clone();
        }
        let stamp = stamp(&self.dir);
        let mut loaded = self.loaded.lock().expect("flow set lock");
        if loaded.0 != stamp {
            match load_dir(&self.dir) {
                Ok((flows, errors)) => {
                    for e in &errors {
                        warn!(error = %e, "flow file left out");
                    }
                    *loaded = (stamp, Arc::new(flows));
                }
                Err(e) => warn!(error = %e, "flows folder not read; keeping the flows read before"),
            }
        }
        loaded.1.clone()
    }

    /// The flow named `name`, as the folder is now.
    pub fn named(&self, name: &str) -> Option<Flow> {
        self.current().iter().find(|f| f.name == name).cloned()
    }
}

fn stamp(dir: &Path) -> Stamp {
    let Ok(entries) = std::fs::read_dir(dir) else { return vec![] };
    let mut stamp: Stamp = entries
        .filter_map(|e| e.ok())
        .filter(|e| e.path().extension().is_some_and(|x| x == "toml"))
        .map(|e| {
            let meta = e.metadata().ok();
            (e.path(), meta.as_ref().map_or(0, |m| m.len()), meta.and_then(|m| m.modified().ok()))
        })
        .collect();
    stamp.sort();
    stamp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_changed_folder_is_read_again() {
        let dir = tempfile::tempdir().unwrap();
        let set = FlowSet::new(dir.path());
        assert!(set.current().is_empty());
        let flow = "name = \"a\"\nclass = \"transactional\"\ntrigger = { event = \"Order Shipped\" }\n[[steps]]\nsend = \"Shipped.\"\n";
        std::fs::write(dir.path().join("a.toml"), flow).unwrap();
        assert_eq!(set.current().len(), 1);
        std::fs::write(dir.path().join("b.toml"), flow.replace("\"a\"", "\"b\"")).unwrap();
        assert_eq!(set.current().len(), 2);
        // A broken file is left out; the others keep running.
        std::fs::write(dir.path().join("b.toml"), "name = ").unwrap();
        assert_eq!(set.current().iter().map(|f| f.name.as_str()).collect::<Vec<_>>(), ["a"]);
    }
}
