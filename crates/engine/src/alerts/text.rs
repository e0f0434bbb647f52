//! What alerts say, in the person's language (English, French,
//! Portuguese): short, with the numbers, and what to do — worded for a
//! person, never naming one front end's commands or buttons.

use serde::{Deserialize, Serialize};

use crate::error::ErrorCode;
use crate::status::Action;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, ts_rs::TS)]
#[serde(rename_all = "snake_case")]
pub enum Lang {
    #[default]
    En,
    Fr,
    Pt,
}

impl Lang {
    /// From a locale such as `fr_FR.UTF-8` (English when unknown).
    pub fn from_locale(locale: &str) -> Lang {
        match locale.get(..2).map(str::to_ascii_lowercase).as_deref() {
            Some("fr") => Lang::Fr,
            Some("pt") => Lang::Pt,
            _ => Lang::En,
        }
    }

    /// `LC_ALL`, `LC_MESSAGES` or `LANG`, as the C library reads them.
    pub fn from_env() -> Lang {
        ["LC_ALL", "LC_MESSAGES", "LANG"]
            .iter()
            .find_map(|v| std::env::var(v).ok().filter(|s| !s.is_empty()))
            .map_or(Lang::En, |l| Lang::from_locale(&l))
    }

    pub fn parse(s: &str) -> Option<Lang> {
        match s {
            "en" => Some(Lang::En),
            "fr" => Some(Lang::Fr),
            "pt" => Some(Lang::Pt),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::Fr => "fr",
            Lang::Pt => "pt",
        }
    }
}

/// One phrase in three languages.
fn pick(lang: Lang, [en, fr, pt]: [&'static str; 3]) -> &'static str {
    match lang {
        Lang::En => en,
        Lang::Fr => fr,
        Lang::Pt => pt,
    }
}

/// What went wrong, in a few words, by the problem's code.
pub fn headline(lang: Lang, code: ErrorCode) -> &'static str {
    pick(
        lang,
        match code {
            ErrorCode::SignInRequired | ErrorCode::SignInExpired | ErrorCode::SignInDeclined => [
                "Microsoft sign-in is needed",
                "une connexion à Microsoft est nécessaire",
                "é preciso iniciar sessão na Microsoft",
            ],
            ErrorCode::KeychainUnavailable => [
                "the keychain cannot be used",
                "le trousseau de clés est inaccessible",
                "o porta-chaves não está acessível",
            ],
            ErrorCode::DestinationFull => [
                "the backup destination is full",
                "la destination des sauvegardes est pleine",
                "o destino das cópias está cheio",
            ],
            ErrorCode::DestinationUnavailable => [
                "the backup destination cannot be reached",
                "la destination des sauvegardes est injoignable",
                "o destino das cópias não está acessível",
            ],
            ErrorCode::DiskFull => [
                "this computer's disk is full",
                "le disque de cet ordinateur est plein",
                "o disco deste computador está cheio",
            ],
            ErrorCode::SourceUnavailable => [
                "the data cannot be read",
                "les données ne peuvent pas être lues",
                "os dados não podem ser lidos",
            ],
            ErrorCode::Stale => [
                "no verified backup for three intervals",
                "aucune sauvegarde vérifiée depuis trois intervalles",
                "nenhuma cópia verificada há três intervalos",
            ],
            ErrorCode::DrillFailed => [
                "a restore drill failed",
                "un test de restauration a échoué",
                "um teste de restauro falhou",
            ],
            ErrorCode::Unproven => [
                "not proven restorable lately",
                "pas de restauration vérifiée récemment",
                "sem restauro comprovado recentemente",
            ],
            ErrorCode::ClockChanged => [
                "the computer's clock is wrong",
                "l'horloge de l'ordinateur est fausse",
                "o relógio do computador está errado",
            ],
            _ => [
                "the last backup failed",
                "la dernière sauvegarde a échoué",
                "a última cópia de segurança falhou",
            ],
        },
    )
}

/// What the person can do.
pub fn action(lang: Lang, action: Action) -> &'static str {
    pick(
        lang,
        match action {
            Action::SignIn => [
                "Open Nuage on this computer and sign in to Microsoft again.",
                "Ouvrez Nuage sur cet ordinateur et reconnectez-vous à Microsoft.",
                "Abra o Nuage neste computador e volte a iniciar sessão na Microsoft.",
            ],
            Action::UnlockKeychain => [
                "Unlock the keychain of this computer's session (log in on it), then back up again.",
                "Déverrouillez le trousseau de la session de cet ordinateur (ouvrez-la), puis relancez la sauvegarde.",
                "Desbloqueie o porta-chaves da sessão deste computador (inicie-a) e volte a fazer a cópia.",
            ],
            Action::Retry => [
                "Nuage tries again at the next backup; if this keeps happening, look at the details below.",
                "Nuage réessaie à la prochaine sauvegarde ; si cela se répète, voyez le détail ci-dessous.",
                "O Nuage tenta de novo na próxima cópia; se se repetir, veja os detalhes abaixo.",
            ],
            Action::Resume => [
                "Resume the scheduled backups in Nuage.",
                "Reprenez les sauvegardes planifiées dans Nuage.",
                "Retome as cópias agendadas no Nuage.",
            ],
            Action::ChooseFolder => [
                "Check the backup destination (free space, connection, permissions) or choose another one.",
                "Vérifiez la destination des sauvegardes (espace, connexion, droits) ou choisissez-en une autre.",
                "Verifique o destino das cópias (espaço, ligação, permissões) ou escolha outro.",
            ],
            Action::AddSource => [
                "Add the data to back up in Nuage.",
                "Ajoutez les données à sauvegarder dans Nuage.",
                "Adicione os dados a copiar no Nuage.",
            ],
            Action::CheckSource => [
                "Check that the application's data is where Nuage expects it (file, folder or database server).",
                "Vérifiez que les données de l'application sont là où Nuage les attend (fichier, dossier ou serveur).",
                "Verifique se os dados da aplicação estão onde o Nuage os espera (ficheiro, pasta ou servidor).",
            ],
            Action::FreeSpace => [
                "Free some disk space on this computer; backups go on by themselves after.",
                "Libérez de l'espace disque sur cet ordinateur ; les sauvegardes reprennent ensuite seules.",
                "Liberte espaço em disco neste computador; as cópias continuam sozinhas depois.",
            ],
            Action::CheckClock => [
                "Set this computer's date and time right.",
                "Corrigez la date et l'heure de cet ordinateur.",
                "Acerte a data e a hora deste computador.",
            ],
        },
    )
}

/// Labels and fixed sentences.
pub enum Phrase {
    NeedsAttention,
    BackToNormal,
    WhatHappened,
    WhatToDo,
    Details,
    Computer,
    Time,
    Since,
    LastGood,
    Solved,
    Never,
    DailyReport,
    TestSubject,
    TestBody,
    Tables,
    Rows,
    Files,
    KeptAt,
    ThisComputer,
    LastRun,
    Took,
}

pub fn phrase(lang: Lang, p: Phrase) -> &'static str {
    pick(
        lang,
        match p {
            Phrase::NeedsAttention => [
                "needs attention",
                "intervention nécessaire",
                "requer atenção",
            ],
            Phrase::BackToNormal => [
                "back to normal",
                "retour à la normale",
                "de volta ao normal",
            ],
            Phrase::WhatHappened => ["What happened", "Ce qui s'est passé", "O que aconteceu"],
            Phrase::WhatToDo => ["What to do", "Que faire", "O que fazer"],
            Phrase::Details => ["Details", "Détail", "Detalhes"],
            Phrase::Computer => ["Computer", "Ordinateur", "Computador"],
            Phrase::Time => ["Time", "Heure", "Hora"],
            Phrase::Since => ["Since", "Depuis", "Desde"],
            Phrase::LastGood => [
                "Last verified backup",
                "Dernière sauvegarde vérifiée",
                "Última cópia verificada",
            ],
            Phrase::Solved => [
                "Solved: backups work again.",
                "Résolu : les sauvegardes fonctionnent à nouveau.",
                "Resolvido: as cópias voltaram a funcionar.",
            ],
            Phrase::Never => ["none yet", "aucune pour l'instant", "nenhuma ainda"],
            Phrase::DailyReport => ["daily report", "rapport quotidien", "relatório diário"],
            Phrase::TestSubject => ["test message", "message de test", "mensagem de teste"],
            Phrase::Tables => ["tables", "tables", "tabelas"],
            Phrase::Rows => ["rows", "lignes", "linhas"],
            Phrase::Files => ["files", "fichiers", "ficheiros"],
            Phrase::KeptAt => ["kept at", "conservée sur", "guardada em"],
            Phrase::ThisComputer => ["this computer", "cet ordinateur", "este computador"],
            Phrase::LastRun => ["Last run", "Dernière exécution", "Última execução"],
            Phrase::Took => ["took", "durée", "duração"],
            Phrase::TestBody => [
                "This is a test from Nuage: its alerts will arrive here.",
                "Ceci est un test de Nuage : ses alertes arriveront ici.",
                "Isto é um teste do Nuage: os seus alertas chegarão aqui.",
            ],
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locales_pick_the_language_and_every_phrase_exists_in_each() {
        assert_eq!(Lang::from_locale("fr_FR.UTF-8"), Lang::Fr);
        assert_eq!(Lang::from_locale("pt_BR"), Lang::Pt);
        assert_eq!(Lang::from_locale("C.UTF-8"), Lang::En);
        for lang in [Lang::En, Lang::Fr, Lang::Pt] {
            let texts = [
                headline(lang, ErrorCode::Failed),
                headline(lang, ErrorCode::DestinationFull),
                action(lang, Action::SignIn),
                phrase(lang, Phrase::Solved),
            ];
            assert!(texts.iter().all(|t| !t.is_empty()));
        }
        assert_ne!(
            headline(Lang::Fr, ErrorCode::Stale),
            headline(Lang::En, ErrorCode::Stale)
        );
    }
}
