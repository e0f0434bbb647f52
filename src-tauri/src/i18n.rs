//! The few strings the Rust side shows itself (tray menu, tray status line,
//! notifications), in English, French and Portuguese. The web UI has its own
//! dictionaries (ui/src/i18n); these are kept small on purpose.

use nuage_engine::AppState;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    En,
    Fr,
    Pt,
}

impl Lang {
    /// `fr`, `fr-CA`, `pt_BR.UTF-8` … → the language; anything else English.
    pub fn parse(tag: &str) -> Lang {
        let t = tag.to_ascii_lowercase();
        if t.starts_with("fr") {
            Lang::Fr
        } else if t.starts_with("pt") {
            Lang::Pt
        } else {
            Lang::En
        }
    }

    pub fn code(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::Fr => "fr",
            Lang::Pt => "pt",
        }
    }

    /// The system's language.
    pub fn system() -> Lang {
        sys_locale::get_locale()
            .map(|l| Lang::parse(&l))
            .unwrap_or(Lang::En)
    }

    fn pick(self, [en, fr, pt]: [&'static str; 3]) -> &'static str {
        match self {
            Lang::En => en,
            Lang::Fr => fr,
            Lang::Pt => pt,
        }
    }

    pub fn state(self, s: AppState) -> &'static str {
        self.pick(match s {
            AppState::UpToDate => ["Up to date", "À jour", "Atualizado"],
            AppState::BackingUp => [
                "Backing up",
                "Sauvegarde en cours",
                "Cópia de segurança em curso",
            ],
            AppState::Waiting => [
                "Waiting to upload",
                "En attente d'envoi",
                "À espera de envio",
            ],
            AppState::NeedsAttention => ["Needs attention", "Action requise", "Requer atenção"],
            AppState::SignedOut => ["Signed out", "Déconnecté", "Sessão terminada"],
            AppState::Paused => ["Paused", "En pause", "Em pausa"],
            AppState::NotSetUp => [
                "Not set up yet",
                "Pas encore configuré",
                "Ainda não configurado",
            ],
        })
    }

    pub fn back_up_now(self) -> &'static str {
        self.pick(["Back up now", "Sauvegarder maintenant", "Fazer cópia agora"])
    }
    pub fn pause(self) -> &'static str {
        self.pick(["Pause", "Mettre en pause", "Pausar"])
    }
    pub fn resume(self) -> &'static str {
        self.pick(["Resume", "Reprendre", "Retomar"])
    }
    pub fn open(self) -> &'static str {
        self.pick(["Open Nuage", "Ouvrir Nuage", "Abrir o Nuage"])
    }
    pub fn quit(self) -> &'static str {
        self.pick(["Quit", "Quitter", "Sair"])
    }

    /// "Last verified backup: 14:02" / none yet.
    pub fn last_verified(self, when: Option<&str>) -> String {
        match when {
            Some(t) => format!(
                "{} {t}",
                self.pick([
                    "Last verified backup:",
                    "Dernière sauvegarde vérifiée :",
                    "Última cópia verificada:",
                ])
            ),
            None => self
                .pick([
                    "No verified backup yet",
                    "Aucune sauvegarde vérifiée",
                    "Ainda sem cópia verificada",
                ])
                .to_string(),
        }
    }

    /// "Proven restorable: 2026-12-03 14:00" (the last drill that passed).
    pub fn proven(self, when: &str) -> String {
        format!(
            "{} {when}",
            self.pick([
                "Proven restorable:",
                "Restauration prouvée :",
                "Restauro comprovado:",
            ])
        )
    }

    /// A source with backups that no drill has proven restorable yet.
    pub fn not_proven(self, source: &str) -> String {
        format!(
            "{} {source}",
            self.pick([
                "Not yet proven restorable:",
                "Restauration pas encore prouvée :",
                "Restauro ainda não comprovado:",
            ])
        )
    }

    /// A size as people read it in this language: "1.2 GB", "1,2 Go".
    pub fn bytes(self, n: u64) -> String {
        let units = match self.pick(["en", "fr", "pt"]) {
            "fr" => ["o", "Ko", "Mo", "Go", "To"],
            _ => ["B", "KB", "MB", "GB", "TB"],
        };
        let mut v = n as f64;
        let mut i = 0;
        while v >= 1000.0 && i < units.len() - 1 {
            v /= 1000.0;
            i += 1;
        }
        let text = if i == 0 {
            format!("{n}")
        } else {
            format!("{v:.1}")
        };
        let text = match self.pick(["en", "fr", "pt"]) {
            "en" => text,
            _ => text.replace('.', ","),
        };
        format!("{text} {}", units[i])
    }

    /// A duration left, rounded: "40 s", "3 min", "2 h 05".
    pub fn left(self, secs: u64) -> String {
        let word = self.pick(["left", "restantes", "restantes"]);
        match secs {
            0..60 => format!("{secs} s {word}"),
            60..3600 => format!("{} min {word}", secs.div_ceil(60)),
            _ => format!("{} h {:02} {word}", secs / 3600, (secs % 3600) / 60),
        }
    }

    /// Progress line of the tray while an upload runs: bytes, rate, time
    /// left.
    pub fn upload_progress(
        self,
        source: &str,
        bytes: u64,
        total: u64,
        rate: u64,
        eta: Option<u64>,
    ) -> String {
        let mut line = format!(
            "{} {source}: {} / {}",
            self.pick(["Uploading", "Envoi de", "A enviar"]),
            self.bytes(bytes),
            self.bytes(total)
        );
        if rate > 0 {
            line.push_str(&format!(", {}/s", self.bytes(rate)));
        }
        if let Some(eta) = eta {
            line.push_str(&format!(", {}", self.left(eta)));
        }
        line
    }

    /// Progress line of the tray while backing up.
    pub fn progress(self, source: &str, percent: Option<u64>, rows: u64) -> String {
        match percent {
            Some(p) => format!(
                "{} {source}: {p} %",
                self.pick(["Uploading", "Envoi de", "A enviar"])
            ),
            None => format!(
                "{} {source}: {rows} {}",
                self.pick(["Backing up", "Sauvegarde de", "A copiar"]),
                self.pick(["rows", "lignes", "linhas"])
            ),
        }
    }

    /// (title, body) of a notification.
    pub fn notice(self, n: crate::notify::Notice) -> (&'static str, &'static str) {
        use crate::notify::Notice;
        match n {
            Notice::Failed => (
                self.pick([
                    "Nuage: backup failed",
                    "Nuage : échec de la sauvegarde",
                    "Nuage: a cópia falhou",
                ]),
                self.pick([
                    "Your data is not backed up. Open Nuage to see what to do.",
                    "Vos données ne sont pas sauvegardées. Ouvrez Nuage pour savoir quoi faire.",
                    "Os seus dados não estão salvaguardados. Abra o Nuage para ver o que fazer.",
                ]),
            ),
            Notice::SignIn => (
                self.pick([
                    "Nuage: sign-in required",
                    "Nuage : reconnexion nécessaire",
                    "Nuage: é preciso iniciar sessão",
                ]),
                self.pick([
                    "Copies are kept on this computer until you sign in again. Open Nuage and sign in.",
                    "Les copies restent sur cet ordinateur jusqu'à votre reconnexion. Ouvrez Nuage et connectez-vous.",
                    "As cópias ficam neste computador até iniciar sessão de novo. Abra o Nuage e inicie sessão.",
                ]),
            ),
            Notice::Recovered => (
                self.pick([
                    "Nuage: back to normal",
                    "Nuage : tout est rentré dans l'ordre",
                    "Nuage: tudo normal de novo",
                ]),
                self.pick([
                    "Your data is backed up and verified again.",
                    "Vos données sont de nouveau sauvegardées et vérifiées.",
                    "Os seus dados voltaram a estar salvaguardados e verificados.",
                ]),
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upload_progress_says_bytes_rate_and_time_left_in_each_language() {
        let en =
            Lang::En.upload_progress("clips", 1_200_000_000, 3_000_000_000, 25_000_000, Some(72));
        assert_eq!(
            en,
            "Uploading clips: 1.2 GB / 3.0 GB, 25.0 MB/s, 2 min left"
        );
        let fr =
            Lang::Fr.upload_progress("clips", 1_200_000_000, 3_000_000_000, 25_000_000, Some(40));
        assert_eq!(
            fr,
            "Envoi de clips: 1,2 Go / 3,0 Go, 25,0 Mo/s, 40 s restantes"
        );
        let pt = Lang::Pt.upload_progress("clips", 500, 3_000_000_000, 0, None);
        assert_eq!(pt, "A enviar clips: 500 B / 3,0 GB");
    }

    #[test]
    fn locales_pick_their_language() {
        assert_eq!(Lang::parse("fr_CA.UTF-8"), Lang::Fr);
        assert_eq!(Lang::parse("pt-BR"), Lang::Pt);
        assert_eq!(Lang::parse("de-DE"), Lang::En);
        assert_eq!(Lang::Fr.state(AppState::UpToDate), "À jour");
    }

    #[test]
    fn every_state_has_three_distinct_translations() {
        for s in AppState::ALL {
            let words = [Lang::En, Lang::Fr, Lang::Pt].map(|l| l.state(s));
            assert!(words.iter().all(|w| !w.is_empty()));
            assert_ne!(words[0], words[1], "{s:?}");
        }
    }
}
