//! When to notify: when a run fails, when sign-in is required, and when
//! things recover — not on every success, and not again while a problem
//! lasts (a failing run every 15 minutes notifies once).

use nuage_engine::{AppState, ErrorCode};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Notice {
    Failed,
    SignIn,
    Recovered,
}

/// Remembers the last settled state (not "backing up", not "paused").
#[derive(Debug, Default)]
pub struct Notifier {
    settled: Option<AppState>,
}

impl Notifier {
    /// The notice for moving to `state` (whose problem has `code`), if any.
    pub fn observe(&mut self, state: AppState, code: Option<ErrorCode>) -> Option<Notice> {
        if matches!(state, AppState::BackingUp | AppState::Paused) {
            return None;
        }
        let before = self.settled.replace(state);
        let was_bad = matches!(before, Some(AppState::NeedsAttention | AppState::Waiting));
        match state {
            AppState::NeedsAttention if before != Some(AppState::NeedsAttention) => {
                if matches!(
                    code,
                    Some(ErrorCode::SignInRequired | ErrorCode::KeychainUnavailable)
                ) {
                    Some(Notice::SignIn)
                } else {
                    Some(Notice::Failed)
                }
            }
            AppState::UpToDate if was_bad => Some(Notice::Recovered),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use AppState::*;

    #[test]
    fn notifies_failure_once_and_recovery_once_not_every_success() {
        let mut n = Notifier::default();
        assert_eq!(n.observe(UpToDate, None), None, "startup: nothing to say");
        assert_eq!(n.observe(BackingUp, None), None);
        assert_eq!(n.observe(UpToDate, None), None, "a success is silent");
        assert_eq!(
            n.observe(NeedsAttention, Some(ErrorCode::SourceUnavailable)),
            Some(Notice::Failed)
        );
        assert_eq!(n.observe(BackingUp, None), None);
        assert_eq!(
            n.observe(NeedsAttention, Some(ErrorCode::SourceUnavailable)),
            None,
            "the same problem again is not news"
        );
        assert_eq!(n.observe(UpToDate, None), Some(Notice::Recovered));
        assert_eq!(n.observe(UpToDate, None), None);
    }

    #[test]
    fn sign_in_required_has_its_own_notice_and_waiting_recovers() {
        let mut n = Notifier::default();
        n.observe(UpToDate, None);
        assert_eq!(
            n.observe(NeedsAttention, Some(ErrorCode::SignInRequired)),
            Some(Notice::SignIn)
        );
        let mut n = Notifier::default();
        n.observe(Waiting, Some(ErrorCode::Offline));
        assert_eq!(n.observe(Paused, None), None);
        assert_eq!(n.observe(UpToDate, None), Some(Notice::Recovered));
    }
}
