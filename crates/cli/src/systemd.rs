//! `nuage service install | status | uninstall`: `nuage run` as a systemd
//! service, for a server or a shared office PC where nobody looks at a
//! tray. A user unit (`--user`: runs while the user's systemd instance
//! does, with the session's keychain) or a system unit (as root: starts at
//! boot, runs as the user who installed it through sudo). The unit holds
//! no secret: they stay in the keychain. Its output goes to the journal;
//! SIGTERM stops it cleanly (a run in progress ends its current step).

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

pub const UNIT: &str = "nuage.service";

/// Where the unit goes.
pub struct Scope {
    pub user: bool,
}

impl Scope {
    /// `$XDG_CONFIG_HOME/systemd/user` for a user unit (`~/.config/…`),
    /// `/etc/systemd/system` for a system one.
    pub fn unit_dir(&self) -> Result<PathBuf> {
        if !self.user {
            return Ok(PathBuf::from("/etc/systemd/system"));
        }
        let config = match std::env::var_os("XDG_CONFIG_HOME").filter(|v| !v.is_empty()) {
            Some(c) => PathBuf::from(c),
            None => PathBuf::from(
                std::env::var_os("HOME")
                    .context("HOME is not set, so the user's systemd folder cannot be found")?,
            )
            .join(".config"),
        };
        Ok(config.join("systemd").join("user"))
    }

    fn systemctl(&self, args: &[&str]) -> Result<String> {
        let mut cmd = Command::new("systemctl");
        if self.user {
            cmd.arg("--user");
        }
        let out = cmd
            .args(args)
            .output()
            .context("systemctl could not be started (is systemd installed?)")?;
        let said = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        if !out.status.success() {
            bail!("{}", said.trim());
        }
        Ok(said.trim().to_string())
    }

    fn flag(&self) -> &'static str {
        if self.user { " --user" } else { "" }
    }
}

/// The unit's text for the `nuage` at `exe` working on `home` (the
/// default home of whoever runs it when none: the packaged user unit).
pub fn unit(exe: &Path, home: Option<&Path>, scope: &Scope, run_as: Option<&str>) -> String {
    let quote = |p: &Path| {
        // systemd splits ExecStart on spaces unless quoted; `\` and `"`
        // are escaped inside the quotes.
        format!(
            "\"{}\"",
            p.to_string_lossy()
                .replace('\\', "\\\\")
                .replace('"', "\\\"")
        )
    };
    let mut u = String::from(
        "# Written by `nuage service install`; `nuage service uninstall` removes it.\n\
         [Unit]\n\
         Description=Nuage backups (scheduled backups, restore drills, alerts)\n\
         Wants=network-online.target\n\
         After=network-online.target\n\n\
         [Service]\n\
         Type=simple\n",
    );
    if let Some(user) = run_as {
        u.push_str(&format!("User={user}\n"));
    }
    match home {
        Some(home) => u.push_str(&format!(
            "ExecStart={} --home {} run\n",
            quote(exe),
            quote(home)
        )),
        None => u.push_str(&format!("ExecStart={} run\n", quote(exe))),
    }
    u.push_str(
        "Environment=NUAGE_LOG=info\n\
         # SIGTERM: the run in progress ends its current step and stops.\n\
         KillSignal=SIGTERM\n\
         TimeoutStopSec=120\n\
         # A start that fails (no keychain yet, a locked home) is tried again.\n\
         Restart=on-failure\n\
         RestartSec=60\n\
         UMask=0077\n\n\
         [Install]\n",
    );
    u.push_str(if scope.user {
        "WantedBy=default.target\n"
    } else {
        "WantedBy=multi-user.target\n"
    });
    u
}

/// Writes the unit and asks systemd to start it now and at every boot
/// (or login). Says where it went and, when systemd cannot be reached,
/// exactly what to run once it can.
pub fn install(home: &Path, scope: &Scope) -> Result<String> {
    let exe = std::env::current_exe().context("the path of this nuage program cannot be found")?;
    let exe = exe.canonicalize().unwrap_or(exe);
    let home = std::path::absolute(home).unwrap_or_else(|_| home.to_path_buf());
    // A system unit runs as the person who asked for it through sudo (not
    // as root, whose keychain and home are not theirs).
    let run_as = if scope.user {
        None
    } else {
        if unsafe { libc::geteuid() } != 0 {
            bail!(
                "a system service is installed as root (it starts at boot for everyone). Run it with sudo, or install a user service instead (--user)."
            );
        }
        std::env::var("SUDO_USER")
            .ok()
            .filter(|u| !u.is_empty() && u != "root")
    };
    let dir = scope.unit_dir()?;
    std::fs::create_dir_all(&dir).with_context(|| format!("could not create {}", dir.display()))?;
    let path = dir.join(UNIT);
    let text = unit(&exe, Some(&home), scope, run_as.as_deref());
    // Written beside, then renamed: never a half-written unit.
    let tmp = dir.join(format!(".{UNIT}.tmp"));
    std::fs::write(&tmp, &text).with_context(|| format!("could not write {}", tmp.display()))?;
    std::fs::rename(&tmp, &path).with_context(|| format!("could not write {}", path.display()))?;
    let enabled = scope
        .systemctl(&["daemon-reload"])
        .and_then(|_| scope.systemctl(&["enable", "--now", UNIT]));
    match enabled {
        Ok(_) => Ok(format!(
            "service installed and started: {} (logs: journalctl{} -u nuage)",
            path.display(),
            scope.flag()
        )),
        Err(e) => bail!(
            "the service was written to {} but systemd could not start it ({e}). Where systemd runs, start it with `systemctl{} daemon-reload && systemctl{} enable --now nuage`.",
            path.display(),
            scope.flag(),
            scope.flag()
        ),
    }
}

/// Whether the unit is there, enabled and running.
pub fn status(scope: &Scope) -> Result<String> {
    let path = scope.unit_dir()?.join(UNIT);
    if !path.exists() {
        return Ok(format!("not installed ({} does not exist)", path.display()));
    }
    let ask = |what: &str| match scope.systemctl(&[what, UNIT]) {
        Ok(s) => s,
        Err(e) => e.to_string(),
    };
    Ok(format!(
        "installed: {}\nenabled: {}\nactive: {}",
        path.display(),
        ask("is-enabled"),
        ask("is-active")
    ))
}

/// Stops and disables the service and removes its unit.
pub fn uninstall(scope: &Scope) -> Result<String> {
    let path = scope.unit_dir()?.join(UNIT);
    if !path.exists() {
        return Ok("no service to remove".into());
    }
    // Stopped first when systemd can be reached; the unit goes either way.
    let stopped = scope.systemctl(&["disable", "--now", UNIT]);
    std::fs::remove_file(&path).with_context(|| format!("could not remove {}", path.display()))?;
    let _ = scope.systemctl(&["daemon-reload"]);
    Ok(match stopped {
        Ok(_) => format!("service stopped and removed ({})", path.display()),
        Err(e) => format!(
            "service removed ({}); systemd could not be asked to stop it ({e})",
            path.display()
        ),
    })
}
