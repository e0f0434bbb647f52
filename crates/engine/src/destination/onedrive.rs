//! A folder in OneDrive or SharePoint, through Microsoft Graph: a folder of
//! the signed-in user's drive, or a folder given by a sharing link (which
//! may live in another drive). Same contract as every destination.

use std::fs::File;
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::time::{Duration, Instant};

use nuage_graph::GraphError;
use nuage_graph::auth::Endpoints;
use nuage_graph::client::{Graph, SessionStore, TokenSource};
use nuage_graph::retry::Budget;
use nuage_graph::types::{ItemLocation, Secret};

use super::{
    Capabilities, Destination, RemoteFile, UploadJournal, UploadSession, point_id_of, tree_path,
};
use crate::error::{Error, ErrorCode, Result};

/// A Graph failure as the engine reports it: the same closed set of codes,
/// the same actionable message.
pub fn graph_error(e: GraphError) -> Error {
    use GraphError::*;
    let code = match &e {
        SignInRequired { .. } | SignInPending { .. } | NoClientId | SignInFailed { .. } => {
            ErrorCode::SignInRequired
        }
        SignInDeclined => ErrorCode::SignInDeclined,
        SignInExpired => ErrorCode::SignInExpired,
        SignInCancelled => ErrorCode::Cancelled,
        Keychain { .. } => ErrorCode::KeychainUnavailable,
        Offline { .. } | Network { .. } => ErrorCode::Offline,
        Throttled { .. } => ErrorCode::Throttled,
        QuotaExceeded => ErrorCode::DestinationFull,
        HashMismatch { .. } | SizeMismatch { .. } => ErrorCode::HashMismatch,
        NotFound { .. } => ErrorCode::NotFound,
        NameAlreadyExists
        | Conflict { .. }
        | PreconditionFailed
        | Locked
        | AccessDenied { .. }
        | PathTooLong
        | InvalidRequest { .. }
        | TooLarge
        | InvalidName(_)
        | Server { .. }
        | InvalidResponse { .. }
        | UploadSessionGone
        | UploadOutOfSync => ErrorCode::DestinationUnavailable,
    };
    let mut message = e.to_string();
    if let Some(wait) = e.retry_after() {
        // Say when, not only how long: "throttled until 14:32".
        // Checked: a wait from a server never overflows the clock.
        let until = chrono::Duration::from_std(wait)
            .ok()
            .and_then(|d| chrono::Local::now().checked_add_signed(d));
        if let Some(until) = until {
            let today = until.date_naive() == chrono::Local::now().date_naive();
            let at = until.format(if today { "%H:%M" } else { "%Y-%m-%d %H:%M" });
            message = format!("{} (throttled until {at})", message.trim_end_matches('.'));
        }
    }
    Error::Destination { code, message }
}

pub struct OneDriveDestination {
    endpoints: Endpoints,
    /// The folder that holds one subfolder per source.
    root: ItemLocation,
    label: String,
    tokens: SharedTokens,
    /// One connection pool for the whole run.
    http: nuage_graph::client::HttpClient,
    /// The time this run may spend retrying, shared by all its calls.
    budget: Budget,
    /// Folders of tree paths found or made in this run.
    dirs: std::collections::HashMap<String, ItemLocation>,
}

impl OneDriveDestination {
    pub fn new(
        endpoints: Endpoints,
        retry_budget: Duration,
        root: ItemLocation,
        label: String,
        tokens: Box<dyn TokenSource + Send>,
    ) -> Self {
        OneDriveDestination {
            endpoints,
            root,
            label,
            tokens: SharedTokens(std::sync::Arc::new(std::sync::Mutex::new(tokens))),
            http: nuage_graph::client::http_client(),
            budget: Budget::new(Instant::now(), retry_budget),
            dirs: Default::default(),
        }
    }

    fn graph(&mut self) -> Graph<'_> {
        Graph::with_client(
            &self.http,
            &self.endpoints.graph,
            &mut self.tokens,
            self.budget,
        )
    }

    /// The folder at tree path `dir` (below the root), made when `create`.
    fn dir_at(&mut self, dir: &str, create: bool) -> Result<Option<ItemLocation>> {
        if let Some(at) = self.dirs.get(dir) {
            return Ok(Some(at.clone()));
        }
        let root = self.root.clone();
        let at = if create {
            let (parent, name) = match dir.rsplit_once('/') {
                Some((p, n)) => (self.dir_at(p, true)?.expect("made"), n),
                None => (root, dir),
            };
            Some(
                self.graph()
                    .ensure_folder(&parent, name)
                    .map_err(graph_error)?,
            )
        } else {
            self.graph()
                .child_by_path(&root, dir)
                .map_err(graph_error)?
                .filter(|i| i.is_folder())
                .and_then(|i| i.location())
        };
        if let Some(at) = &at {
            self.dirs.insert(dir.to_string(), at.clone());
        }
        Ok(at)
    }

    /// The file at tree path `path`, with its item.
    fn tree_item(&mut self, path: &str) -> Result<Option<nuage_graph::types::DriveItem>> {
        tree_path(path)?;
        let root = self.root.clone();
        match self.graph().child_by_path(&root, path) {
            Ok(item) => Ok(item.filter(|i| i.is_file())),
            // A path too long for OneDrive holds nothing (an earlier
            // point's name for a file, before such files had a place).
            Err(GraphError::PathTooLong) => Ok(None),
            Err(e) => Err(graph_error(e)),
        }
    }

    fn file_location(&mut self, folder: &str, name: &str) -> Result<Option<ItemLocation>> {
        if point_id_of(name).is_none() || !crate::source::valid_source_name(folder) {
            return Err(Error::Invalid(format!(
                "'{folder}/{name}' is not a file Nuage creates"
            )));
        }
        let root = self.root.clone();
        let item = self
            .graph()
            .child_by_path(&root, &format!("{folder}/{name}"))
            .map_err(graph_error)?;
        Ok(item.and_then(|i| i.location()))
    }
}

/// The run's tokens, shared by the workers that upload small files in
/// parallel: one at a time gets or refreshes the token, so a refresh
/// (which replaces the refresh token) is never done twice at once.
#[derive(Clone)]
struct SharedTokens(std::sync::Arc<std::sync::Mutex<Box<dyn TokenSource + Send>>>);

impl TokenSource for SharedTokens {
    fn access_token(&mut self) -> nuage_graph::error::Result<Secret> {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .access_token()
    }
    fn refresh(&mut self) -> nuage_graph::error::Result<Secret> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).refresh()
    }
}

/// Small files sent at once to OneDrive: Graph serves a few requests of
/// one user in parallel well; more meet its throttling sooner.
const PARALLEL_UPLOADS: usize = 4;

/// The engine's journal seen as the graph client's session store.
struct Sessions<'a>(&'a mut dyn UploadJournal);

impl SessionStore for Sessions<'_> {
    fn load(&self) -> Option<(Secret, u64)> {
        self.0.load().map(|s| (Secret::new(s.url), s.next_offset))
    }
    fn save(&mut self, url: &Secret, next_offset: u64) -> nuage_graph::error::Result<()> {
        self.0
            .save(&UploadSession {
                url: url.expose().to_string(),
                next_offset,
            })
            .map_err(|e| GraphError::InvalidResponse {
                detail: format!("cannot record the upload's progress: {e}"),
            })
    }
    fn clear(&mut self) -> nuage_graph::error::Result<()> {
        self.0.clear().map_err(|e| GraphError::InvalidResponse {
            detail: format!("cannot record the upload's progress: {e}"),
        })
    }
}

impl Destination for OneDriveDestination {
    fn describe(&self) -> String {
        self.label.clone()
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            server_hash: true,
            listed_hash: true,
            resumable: true,
        }
    }

    fn upload(
        &mut self,
        folder: &str,
        name: &str,
        local: &Path,
        journal: &mut dyn UploadJournal,
        progress: &mut dyn FnMut(u64),
    ) -> Result<RemoteFile> {
        let root = self.root.clone();
        let mut graph = self.graph();
        let parent = graph.ensure_folder(&root, folder).map_err(graph_error)?;
        put_one(&mut graph, &parent, name, local, journal, progress)
    }

    fn folders(&mut self) -> Result<Vec<String>> {
        let root = self.root.clone();
        let mut names: Vec<String> = self
            .graph()
            .children(&root)
            .map_err(graph_error)?
            .into_iter()
            .filter(|i| i.is_folder())
            .filter_map(|i| i.name)
            .filter(|n| crate::source::valid_source_name(n))
            .collect();
        names.sort();
        Ok(names)
    }

    fn list(&mut self, folder: &str) -> Result<Vec<RemoteFile>> {
        if !crate::source::valid_source_name(folder) {
            return Ok(Vec::new());
        }
        let root = self.root.clone();
        let mut graph = self.graph();
        let Some(dir) = graph
            .child_by_path(&root, folder)
            .map_err(graph_error)?
            .and_then(|i| i.location())
        else {
            return Ok(Vec::new());
        };
        let mut files: Vec<RemoteFile> = graph
            .children(&dir)
            .map_err(graph_error)?
            .into_iter()
            .filter(|i| i.is_file())
            .filter_map(|i| {
                let name = i.name.clone()?;
                point_id_of(&name)?;
                Some(RemoteFile {
                    size: i.size.unwrap_or(0),
                    quickxor: i.quick_xor_hash().map(str::to_string),
                    name,
                })
            })
            .collect();
        files.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(files)
    }

    fn download(&mut self, folder: &str, name: &str, out: &mut dyn Write) -> Result<u64> {
        let Some(at) = self.file_location(folder, name)? else {
            return Err(Error::UnknownRestorePoint(
                name.trim_end_matches(".json.zst").to_string(),
            ));
        };
        self.graph().download(&at, out).map_err(graph_error)
    }

    fn move_file(&mut self, from: &str, name: &str, to: &str) -> Result<()> {
        // Checks both names before any request.
        let src = self.file_location(from, name)?;
        let dst = self.file_location(to, name)?;
        let src = match (src, dst) {
            (Some(src), None) => src,
            (None, Some(_)) => return Ok(()),
            (None, None) => {
                return Err(Error::UnknownRestorePoint(
                    point_id_of(name).unwrap_or(name).to_string(),
                ));
            }
            // OneDrive names ignore case: "shop" and "Shop" are one folder.
            (Some(src), Some(dst))
                if src.item_id == dst.item_id || from.eq_ignore_ascii_case(to) =>
            {
                return Ok(());
            }
            // The same restore point twice: the moved copy goes only when
            // the server reports the same size and hash for both.
            (Some(src), Some(dst)) => {
                let mut graph = self.graph();
                let (a, b) = (
                    graph.item(&src).map_err(graph_error)?,
                    graph.item(&dst).map_err(graph_error)?,
                );
                let same = a.size == b.size
                    && a.quick_xor_hash().is_some()
                    && a.quick_xor_hash() == b.quick_xor_hash();
                if same {
                    return graph.delete(&src).map_err(graph_error);
                }
                return Ok(());
            }
        };
        let root = self.root.clone();
        let mut graph = self.graph();
        let parent = graph.ensure_folder(&root, to).map_err(graph_error)?;
        match graph.move_item(&src, &parent) {
            Ok(_) => Ok(()),
            // Put there meanwhile (another machine): both stay; the next
            // move compares them.
            Err(GraphError::NameAlreadyExists) => Ok(()),
            Err(e) => Err(graph_error(e)),
        }
    }

    fn delete(&mut self, folder: &str, name: &str) -> Result<()> {
        match self.file_location(folder, name)? {
            Some(at) => self.graph().delete(&at).map_err(graph_error),
            None => Ok(()),
        }
    }

    fn put_file(
        &mut self,
        path: &str,
        local: &Path,
        journal: &mut dyn UploadJournal,
        progress: &mut dyn FnMut(u64),
    ) -> Result<RemoteFile> {
        tree_path(path)?;
        let (dir, _) = path.rsplit_once('/').expect("a tree path has a folder");
        let parent = self.dir_at(dir, true)?.expect("made");
        put_one(&mut self.graph(), &parent, path, local, journal, progress)
    }

    fn put_small_files(
        &mut self,
        files: &[(String, std::path::PathBuf)],
        progress: &mut dyn FnMut(u64),
    ) -> Vec<Result<RemoteFile>> {
        use std::sync::Mutex;
        use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
        // Folders first, one at a time (each made once).
        let mut parents = Vec::with_capacity(files.len());
        for (path, _) in files {
            let parent = tree_path(path).and_then(|_| {
                let (dir, _) = path.rsplit_once('/').expect("a tree path has a folder");
                Ok(self.dir_at(dir, true)?.expect("made"))
            });
            parents.push(parent);
        }
        let results: Vec<Mutex<Option<Result<RemoteFile>>>> =
            files.iter().map(|_| Mutex::new(None)).collect();
        let next = AtomicUsize::new(0);
        let (sent, done) = (AtomicU64::new(0), AtomicUsize::new(0));
        let (http, base, budget) = (&self.http, self.endpoints.graph.as_str(), self.budget);
        std::thread::scope(|scope| {
            for _ in 0..PARALLEL_UPLOADS.min(files.len()) {
                let mut tokens = self.tokens.clone();
                let (results, next, sent, done, parents) =
                    (&results, &next, &sent, &done, &parents);
                scope.spawn(move || {
                    let mut graph = Graph::with_client(http, base, &mut tokens, budget);
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some((path, local)) = files.get(i) else {
                            break;
                        };
                        let r = match &parents[i] {
                            Err(e) => Err(Error::Invalid(e.to_string())),
                            Ok(parent) => put_one(
                                &mut graph,
                                parent,
                                path,
                                local,
                                &mut super::NoJournal,
                                &mut |_| {},
                            ),
                        };
                        if let Ok(f) = &r {
                            sent.fetch_add(f.size, Ordering::Relaxed);
                        }
                        *results[i].lock().unwrap_or_else(|p| p.into_inner()) = Some(r);
                        done.fetch_add(1, Ordering::Relaxed);
                    }
                });
            }
            // Progress from here: the callback is not shared with the workers.
            while done.load(Ordering::Relaxed) < files.len() {
                progress(sent.load(Ordering::Relaxed));
                std::thread::sleep(Duration::from_millis(50));
            }
        });
        progress(sent.load(Ordering::Relaxed));
        results
            .into_iter()
            .map(|r| {
                r.into_inner()
                    .unwrap_or_else(|p| p.into_inner())
                    .unwrap_or_else(|| Err(Error::Invalid("an upload did not run".into())))
            })
            .collect()
    }

    fn file_info(&mut self, path: &str) -> Result<Option<RemoteFile>> {
        Ok(self.tree_item(path)?.map(|i| RemoteFile {
            name: path.to_string(),
            size: i.size.unwrap_or(0),
            quickxor: i.quick_xor_hash().map(str::to_string),
        }))
    }

    fn get_file(&mut self, path: &str, out: &mut dyn Write) -> Result<u64> {
        let Some(at) = self.tree_item(path)?.and_then(|i| i.location()) else {
            return Err(Error::Destination {
                code: ErrorCode::NotFound,
                message: format!("{path} is not at {}", self.label),
            });
        };
        self.graph().download(&at, out).map_err(graph_error)
    }

    fn move_path(&mut self, from: &str, to: &str) -> Result<()> {
        tree_path(to)?;
        let Some(src) = self.tree_item(from)?.and_then(|i| i.location()) else {
            return Err(Error::Destination {
                code: ErrorCode::NotFound,
                message: format!("{from} is not at {}", self.label),
            });
        };
        let (dir, name) = to.rsplit_once('/').expect("a tree path has a folder");
        let parent = self.dir_at(dir, true)?.expect("made");
        self.graph()
            .move_item_as(&src, &parent, Some(name))
            .map(drop)
            .map_err(graph_error)
    }

    fn delete_path(&mut self, path: &str) -> Result<()> {
        match self.tree_item(path)?.and_then(|i| i.location()) {
            Some(at) => self.graph().delete(&at).map_err(graph_error),
            None => Ok(()),
        }
    }

    fn list_path(&mut self, dir: &str) -> Result<Vec<RemoteFile>> {
        tree_path(&format!("{dir}/x"))?;
        let Some(at) = self.dir_at(dir, false)? else {
            return Ok(Vec::new());
        };
        let mut files: Vec<RemoteFile> = self
            .graph()
            .children(&at)
            .map_err(graph_error)?
            .into_iter()
            .filter(|i| i.is_file())
            .filter_map(|i| {
                Some(RemoteFile {
                    size: i.size.unwrap_or(0),
                    quickxor: i.quick_xor_hash().map(str::to_string),
                    name: i.name?,
                })
            })
            .collect();
        files.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(files)
    }
}

/// One file into `parent` under the last segment of `path` (a tree path,
/// or a restore point's file name): one request for a small one, a
/// resumable session (kept in `journal`) for a big one.
fn put_one(
    graph: &mut Graph<'_>,
    parent: &ItemLocation,
    path: &str,
    local: &Path,
    journal: &mut dyn UploadJournal,
    progress: &mut dyn FnMut(u64),
) -> Result<RemoteFile> {
    let name = path.rsplit_once('/').map_or(path, |(_, n)| n);
    let file = File::open(local).map_err(|e| Error::io("read", local, e))?;
    let size = file
        .metadata()
        .map_err(|e| Error::io("read", local, e))?
        .len();
    let mut read_at = |offset: u64, buf: &mut [u8]| file.read_exact_at(buf, offset);
    let item = graph
        .upload(
            parent,
            name,
            size,
            &mut read_at,
            &mut Sessions(journal),
            progress,
        )
        .map_err(graph_error)?;
    Ok(RemoteFile {
        name: path.to_string(),
        size: item.size.unwrap_or(0),
        quickxor: item.quick_xor_hash().map(str::to_string),
    })
}
