//! File-system notifications for folder sources (the `notify` crate:
//! inotify, FSEvents, ReadDirectoryChangesW): while the service runs, a
//! change in a folder source marks it, and once the folder has been quiet
//! for the settle time (a clip finished being written) the scheduler backs
//! it up — within seconds, not at the next interval. The scan at each run
//! stays the truth; notifications only say *when* to look.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use notify::{RecursiveMode, Watcher as _};

use super::Clock;

/// Changes seen per source: when the last one was (monotonic).
pub(crate) type Changed = Arc<Mutex<HashMap<String, Duration>>>;

pub(crate) struct FolderWatch {
    watcher: Option<notify::RecommendedWatcher>,
    /// Source name → its folder, as watched.
    watched: Vec<(String, PathBuf)>,
    roots: Arc<Mutex<Vec<(String, PathBuf)>>>,
    changed: Changed,
}

impl FolderWatch {
    pub(crate) fn new(clock: Arc<dyn Clock>, home: &Path) -> FolderWatch {
        let changed: Changed = Arc::default();
        let roots: Arc<Mutex<Vec<(String, PathBuf)>>> = Arc::default();
        let (c, r) = (Arc::clone(&changed), Arc::clone(&roots));
        let home = home.to_path_buf();
        let watcher = notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
            let Ok(event) = res else { return };
            if matches!(event.kind, notify::EventKind::Access(_)) {
                return;
            }
            let roots = r.lock().unwrap_or_else(|p| p.into_inner());
            for path in &event.paths {
                // Nuage's own writes (its home, a restore's staging
                // folder, temporary files) are not the application's.
                if path.starts_with(&home)
                    || path
                        .components()
                        .any(|s| crate::temporaries::is_temporary_name(s.as_os_str()))
                {
                    continue;
                }
                if let Some((name, _)) = roots.iter().find(|(_, root)| path.starts_with(root)) {
                    c.lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .insert(name.clone(), clock.monotonic());
                }
            }
        })
        .map_err(|e| tracing::warn!("file-system notifications are not available ({e}): folder sources are backed up at each scheduled run"))
        .ok();
        FolderWatch {
            watcher,
            watched: Vec::new(),
            roots,
            changed,
        }
    }

    /// Watches exactly `sources` (name, folder): new ones added, removed
    /// ones dropped.
    pub(crate) fn set(&mut self, mut sources: Vec<(String, PathBuf)>) {
        sources.sort();
        if sources == self.watched {
            return;
        }
        let Some(w) = self.watcher.as_mut() else {
            return;
        };
        for (_, root) in self.watched.iter().filter(|s| !sources.contains(s)) {
            let _ = w.unwatch(root);
        }
        for (name, root) in sources.iter().filter(|s| !self.watched.contains(s)) {
            if let Err(e) = w.watch(root, RecursiveMode::Recursive) {
                tracing::warn!(source = %name, "cannot watch {} ({e}): it is backed up at each scheduled run", root.display());
            }
        }
        *self.roots.lock().unwrap_or_else(|p| p.into_inner()) = sources.clone();
        self.watched = sources;
    }

    /// The sources changed and quiet for `quiet` by `now`, taken (a change
    /// after this starts the wait again).
    pub(crate) fn due(&self, now: Duration, quiet: Duration) -> Vec<String> {
        let mut c = self.changed.lock().unwrap_or_else(|p| p.into_inner());
        let due: Vec<String> = c
            .iter()
            .filter(|(_, at)| now.saturating_sub(**at) >= quiet)
            .map(|(n, _)| n.clone())
            .collect();
        for n in &due {
            c.remove(n);
        }
        due
    }

    /// Marks `sources` (files still being written when they were backed
    /// up) as changed at `now`: looked at again once quiet.
    pub(crate) fn unsettled(&self, sources: Vec<String>, now: Duration) {
        let mut c = self.changed.lock().unwrap_or_else(|p| p.into_inner());
        for s in sources {
            c.entry(s).or_insert(now);
        }
    }

    /// Whether a change waits to become quiet (the scheduler looks again
    /// sooner).
    pub(crate) fn pending(&self) -> bool {
        !self
            .changed
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .is_empty()
    }
}
