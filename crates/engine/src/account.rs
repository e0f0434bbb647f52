//! Signing in to Microsoft and choosing a OneDrive or SharePoint folder:
//! the engine side of `nuage login / logout / whoami / destination onedrive`
//! (and of the desktop app's sign-in screen). Tokens go to the keychain
//! through `nuage_graph::session`; nothing secret is stored here.

use std::sync::atomic::AtomicBool;

use nuage_graph::GraphError;
use nuage_graph::auth::{self, AppRegistration, DeviceFlow};
use nuage_graph::client::{Graph, TokenSource};
use nuage_graph::session::{self, KeychainTokens};
use nuage_graph::types::{Secret, TokenResponse};
use serde::Serialize;

use crate::destination::DestinationConfig;
use crate::destination::onedrive::graph_error;
use crate::error::{Error, Result};
use crate::run::Ctx;

/// Who Nuage is signed in as, and the drive it writes to.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, ts_rs::TS)]
pub struct Account {
    /// `user` (device sign-in) or `app` (client credentials).
    pub kind: String,
    pub name: String,
    pub drive_type: Option<String>,
    pub quota_total: Option<u64>,
    pub quota_used: Option<u64>,
    pub quota_remaining: Option<u64>,
}

/// An access token just obtained, for the calls right after signing in.
struct JustIssued(Secret);

impl TokenSource for JustIssued {
    fn access_token(&mut self) -> nuage_graph::error::Result<Secret> {
        Ok(self.0.clone())
    }
    fn refresh(&mut self) -> nuage_graph::error::Result<Secret> {
        Err(GraphError::SignInRequired { codes: vec![] })
    }
}

/// The signed-in Graph client of a home, for one call of the engine.
fn with_graph<T>(
    ctx: &Ctx<'_>,
    call: impl FnOnce(&mut Graph<'_>) -> nuage_graph::error::Result<T>,
) -> Result<T> {
    let settings = &ctx.config.graph;
    let mut tokens = KeychainTokens::load(ctx.home(), settings).map_err(graph_error)?;
    let mut graph = Graph::new(
        &settings.endpoints.graph,
        &mut tokens,
        ctx.config.retry_budget,
    );
    call(&mut graph).map_err(graph_error)
}

/// A folder given as (drive id, item id), or the drive's root.
fn folder_or_root(
    graph: &mut Graph<'_>,
    parent: Option<(&str, &str)>,
) -> nuage_graph::error::Result<nuage_graph::types::ItemLocation> {
    match parent {
        Some((drive_id, item_id)) => Ok(nuage_graph::types::ItemLocation {
            drive_id: drive_id.into(),
            item_id: item_id.into(),
        }),
        None => graph.my_root(),
    }
}

impl Ctx<'_> {
    /// The app registration to sign in with: the arguments, else the
    /// configuration's (`NUAGE_CLIENT_ID` / `NUAGE_TENANT`), else what was
    /// used last time.
    pub fn app_registration(
        &self,
        client_id: Option<&str>,
        tenant: Option<&str>,
    ) -> Result<AppRegistration> {
        let saved = self
            .store
            .setting("app_registration")?
            .and_then(|j| serde_json::from_str::<AppRegistration>(&j).ok());
        let client_id = client_id
            .map(str::to_string)
            .or_else(|| self.config.client_id.clone())
            .or_else(|| saved.as_ref().map(|s| s.client_id.clone()))
            .ok_or_else(|| graph_error(GraphError::NoClientId))?;
        let tenant = tenant
            .map(str::to_string)
            .or_else(|| self.config.tenant.clone())
            .or_else(|| saved.as_ref().map(|s| s.tenant.clone()))
            .unwrap_or_else(|| "common".to_string());
        Ok(AppRegistration { client_id, tenant })
    }

    /// Starts a device sign-in: show the result's `message` (or
    /// `user_code` and `verification_uri`), then call [`Engine::finish_sign_in`].
    pub fn start_sign_in(&self, app: &AppRegistration) -> Result<DeviceFlow> {
        DeviceFlow::start(&self.config.graph.endpoints, app).map_err(graph_error)
    }

    /// Waits for the person to approve, then keeps the tokens in the keychain.
    pub fn finish_sign_in(
        &self,
        flow: &DeviceFlow,
        app: &AppRegistration,
        cancel: &AtomicBool,
    ) -> Result<Account> {
        let tokens = flow.wait(cancel).map_err(graph_error)?;
        let account = self.describe_user(&tokens)?;
        session::save_user_tokens(
            self.home(),
            &self.config.graph,
            app,
            &tokens,
            Some(account.name.clone()),
        )
        .map_err(graph_error)?;
        self.store.set_setting(
            "app_registration",
            Some(&serde_json::to_string(app).expect("serializable")),
        )?;
        Ok(account)
    }

    fn describe_user(&self, tokens: &TokenResponse) -> Result<Account> {
        let mut src = JustIssued(tokens.access_token.clone());
        let mut graph = Graph::new(
            &self.config.graph.endpoints.graph,
            &mut src,
            self.config.retry_budget,
        );
        let me = graph.me().map_err(graph_error)?;
        let drive = graph.my_drive().map_err(graph_error)?;
        Ok(user_account(me, drive))
    }

    /// App-only sign-in (an unattended machine): checks the secret with
    /// the identity platform, then keeps it in the keychain.
    pub fn sign_in_app(&self, app: &AppRegistration, secret: &Secret) -> Result<Account> {
        auth::client_credentials(&self.config.graph.endpoints, app, secret).map_err(graph_error)?;
        session::save_app_credentials(self.home(), &self.config.graph, app, secret)
            .map_err(graph_error)?;
        self.store.set_setting(
            "app_registration",
            Some(&serde_json::to_string(app).expect("serializable")),
        )?;
        Ok(Account {
            kind: "app".into(),
            name: format!("app {} in tenant {}", app.client_id, app.tenant),
            drive_type: None,
            quota_total: None,
            quota_used: None,
            quota_remaining: None,
        })
    }

    /// Set when tokens are kept outside the keychain (`NUAGE_TOKEN_STORE=file`):
    /// front ends show it whenever they sign in or use the account.
    /// Who is signed in, read from the keychain without a network call:
    /// `None` when nobody is. A keychain that cannot be read is an error.
    pub fn signed_in(&self) -> Result<Option<String>> {
        match KeychainTokens::load(self.home(), &self.config.graph) {
            Ok(t) => Ok(Some(t.account())),
            Err(GraphError::SignInRequired { .. }) => Ok(None),
            Err(e) => Err(graph_error(e)),
        }
    }

    pub fn token_store_warning(&self) -> Result<Option<String>> {
        session::store_warning(self.home(), &self.config.graph).map_err(graph_error)
    }

    /// Forgets every credential of this home. Backups keep landing locally.
    pub fn sign_out(&self) -> Result<()> {
        session::sign_out(self.home(), &self.config.graph).map_err(graph_error)?;
        // Upload URLs are credentials too: they go with the sign-in, and
        // so does the key that sealed them.
        self.store.forget_upload_sessions()?;
        if let Err(e) = crate::sealed::forget_key(self.home(), &self.config.graph) {
            tracing::warn!("the sealing key stays in the keychain: {e}");
        }
        Ok(())
    }

    /// Who is signed in, with the drive's type and quota.
    pub fn whoami(&self) -> Result<Account> {
        let mut tokens =
            KeychainTokens::load(self.home(), &self.config.graph).map_err(graph_error)?;
        if tokens.is_app() {
            let name = tokens.account();
            tokens.access_token().map_err(graph_error)?;
            return Ok(Account {
                kind: "app".into(),
                name,
                drive_type: None,
                quota_total: None,
                quota_used: None,
                quota_remaining: None,
            });
        }
        let mut graph = Graph::new(
            &self.config.graph.endpoints.graph,
            &mut tokens,
            self.config.retry_budget,
        );
        let me = graph.me().map_err(graph_error)?;
        let drive = graph.my_drive().map_err(graph_error)?;
        Ok(user_account(me, drive))
    }

    /// A folder of the signed-in user's drive (created when missing) as the
    /// destination.
    pub fn use_onedrive_folder(&self, path: &str) -> Result<DestinationConfig> {
        let path = path.trim_matches('/').to_string();
        let at = with_graph(self, |g| {
            let root = g.my_root()?;
            g.ensure_path(&root, &path)
        })?;
        let config = DestinationConfig::OneDrive {
            label: format!("OneDrive folder /{path}"),
            drive_id: at.drive_id,
            item_id: at.item_id,
        };
        self.set_destination(Some(&config))?;
        Ok(config)
    }

    /// A folder picked in the app's folder browser (drive and item ids from
    /// [`Engine::browse_onedrive`]) as the destination; `path` labels it.
    pub fn use_onedrive_item(
        &self,
        drive_id: &str,
        item_id: &str,
        path: &str,
    ) -> Result<DestinationConfig> {
        let config = DestinationConfig::OneDrive {
            label: format!("OneDrive folder /{}", path.trim_matches('/')),
            drive_id: drive_id.to_string(),
            item_id: item_id.to_string(),
        };
        self.set_destination(Some(&config))?;
        Ok(config)
    }

    /// A folder given by a SharePoint/OneDrive sharing link as the
    /// destination (the link is resolved once to its drive and item).
    pub fn use_share_link(&self, link: &str) -> Result<DestinationConfig> {
        let item = with_graph(self, |g| g.resolve_share_link(link))?;
        if !item.is_folder() && item.remote_item.as_ref().is_none_or(|r| r.folder.is_none()) {
            return Err(Error::Invalid(
                "that sharing link is for a file, not a folder. Share a folder and use its link."
                    .into(),
            ));
        }
        let at = item
            .location()
            .ok_or_else(|| Error::Invalid("the sharing link did not resolve to a folder".into()))?;
        let config = DestinationConfig::OneDrive {
            label: format!(
                "shared folder \"{}\"",
                item.name.clone().unwrap_or_default()
            ),
            drive_id: at.drive_id,
            item_id: at.item_id,
        };
        self.set_destination(Some(&config))?;
        Ok(config)
    }
}

fn user_account(me: nuage_graph::types::User, drive: nuage_graph::types::Drive) -> Account {
    let quota = drive.quota.as_ref();
    Account {
        kind: "user".into(),
        name: me
            .user_principal_name
            .clone()
            .or(me.display_name.clone())
            .or(me.mail.clone())
            .unwrap_or_else(|| "a Microsoft account".into()),
        drive_type: drive
            .drive_type
            .as_ref()
            .map(|t| format!("{t:?}").to_lowercase()),
        quota_total: quota
            .and_then(|q| q.total)
            .and_then(|v| u64::try_from(v).ok()),
        quota_used: quota
            .and_then(|q| q.used)
            .and_then(|v| u64::try_from(v).ok()),
        quota_remaining: quota
            .and_then(|q| q.remaining)
            .and_then(|v| u64::try_from(v).ok()),
    }
}

/// One folder shown by a folder picker.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, ts_rs::TS)]
pub struct FolderEntry {
    pub name: String,
    pub drive_id: String,
    pub item_id: String,
    pub child_count: Option<u64>,
}

/// One page of a folder's subfolders; pass `next` back for the next page.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, ts_rs::TS)]
pub struct FolderPage {
    pub folders: Vec<FolderEntry>,
    pub next: Option<String>,
}

impl Ctx<'_> {
    /// Lists the subfolders of `parent` (the drive's root when `None`) in
    /// the signed-in user's OneDrive, one page at a time, for a folder picker.
    pub fn browse_onedrive(
        &self,
        parent: Option<(&str, &str)>,
        next: Option<&str>,
        page_size: u32,
    ) -> Result<FolderPage> {
        let page = with_graph(self, |g| {
            let at = folder_or_root(g, parent)?;
            g.children_page(&at, next, page_size.clamp(1, 999))
        })?;
        let folders = page
            .value
            .into_iter()
            .filter(|i| i.is_folder())
            .filter_map(|i| {
                let loc = i.location()?;
                Some(FolderEntry {
                    name: i.name.clone()?,
                    drive_id: loc.drive_id,
                    item_id: loc.item_id,
                    child_count: i.folder.as_ref().and_then(|f| f.child_count),
                })
            })
            .collect();
        Ok(FolderPage {
            folders,
            next: page.next_link,
        })
    }

    /// Creates a folder named `name` in `parent` (or the root) for a folder picker.
    pub fn create_onedrive_folder(
        &self,
        parent: Option<(&str, &str)>,
        name: &str,
    ) -> Result<FolderEntry> {
        let loc = with_graph(self, |g| {
            let at = folder_or_root(g, parent)?;
            g.ensure_folder(&at, name)
        })?;
        Ok(FolderEntry {
            name: name.to_string(),
            drive_id: loc.drive_id,
            item_id: loc.item_id,
            child_count: Some(0),
        })
    }
}
