//! The flows in `flows.dir`, read again whenever a file there changes: editing, adding or
//! removing a flow file takes effect at the next event or step, without a restart.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use tracing::warn;

use super::file::{Flow, load_dir};

/// What the folder looked like when it was last read: each file's name, size and mtime.
type Stamp = Vec<(PathBuf, u64, Option<SystemTime>)>;

/// How often the folder is looked at for changes, at most: every event and step asks for
/// the flows, and a burst of them should not list the folder each time.
const RECHECK: Duration = Duration::from_secs(1);

/// The flows as last read, and when and from what.
struct Loaded {
    stamp: Option<Stamp>,
    checked: Option<Instant>,
    flows: Arc<Vec<Flow>>,
}

/// The current flows of one folder.
pub struct FlowSet {
    /// `None`: a fixed set, never read again.
    dir: Option<PathBuf>,
    loaded: Mutex<Loaded>,
}

impl FlowSet {
    /// The flows of `dir` (none yet: read on first use).
    pub fn new(dir: &Path) -> FlowSet {
        let loaded = Loaded { stamp: None, checked: None, flows: Arc::new(vec![]) };
        FlowSet { dir: Some(dir.to_path_buf()), loaded: Mutex::new(loaded) }
    }

    /// A fixed set (tests and `flows simulate` with flows already read).
    pub fn fixed(flows: Vec<Flow>) -> FlowSet {
        let loaded = Loaded { stamp: None, checked: None, flows: Arc::new(flows) };
        FlowSet { dir: None, loaded: Mutex::new(loaded) }
    }

    /// The flows as the folder is now (looked at once a second at most). A file with errors
    /// is left out, with a warning (run `backtalk flows validate` to see them); the other
    /// flows keep running.
    pub fn current(&self) -> Arc<Vec<Flow>> {
        let mut loaded = self.loaded.lock().expect("flow set lock");
        let Some(dir) = &self.dir else { return loaded.flows.clone() };
        if loaded.checked.is_some_and(|at| at.elapsed() < RECHECK) {
            return loaded.flows.clone();
        }
        loaded.checked = Some(Instant::now());
        let stamp = stamp(dir);
        if loaded.stamp.as_ref() != Some(&stamp) {
            match load_dir(dir) {
                Ok((flows, errors)) => {
                    for e in &errors {
                        warn!(error = %e, "flow file left out");
                    }
                    loaded.stamp = Some(stamp);
                    loaded.flows = Arc::new(flows);
                }
                Err(e) => warn!(error = %e, "flows folder not read; keeping the flows read before"),
            }
        }
        loaded.flows.clone()
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
        let later = || std::thread::sleep(RECHECK + Duration::from_millis(50));
        std::fs::write(dir.path().join("a.toml"), flow).unwrap();
        // Looked at again only a second after the last look.
        assert!(set.current().is_empty());
        later();
        assert_eq!(set.current().len(), 1);
        std::fs::write(dir.path().join("b.toml"), flow.replace("\"a\"", "\"b\"")).unwrap();
        later();
        assert_eq!(set.current().len(), 2);
        // A broken file is left out; the others keep running.
        std::fs::write(dir.path().join("b.toml"), "name = ").unwrap();
        later();
        assert_eq!(set.current().iter().map(|f| f.name.as_str()).collect::<Vec<_>>(), ["a"]);
    }
}
