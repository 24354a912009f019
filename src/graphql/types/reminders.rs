use async_graphql::{Enum, ID, InputObject, SimpleObject};
use chrono::{DateTime, Utc};

use super::scalars::Date;

use crate::reminders::{self, facts::BattleWithParticipants};

/// Where a battle is in its life.
#[derive(Enum, Clone, Copy, PartialEq, Eq, Debug)]
#[graphql(remote = "crate::store::BattleStatus")]
pub enum BattleStatus {
    /// Running: participants who have not submitted get reminders.
    Active,
    /// Over: no more reminders.
    Completed,
    /// Called off: no more reminders.
    Cancelled,
}

/// The reminder engine's scans.
#[derive(Enum, Clone, Copy, PartialEq, Eq, Debug)]
pub enum ReminderKind {
    /// Participants of active battles whose deadline is near.
    Battles,
    /// Users whose streak ends at their local midnight.
    Streaks,
}

impl From<ReminderKind> for reminders::ReminderKind {
    fn from(k: ReminderKind) -> Self {
        match k {
            ReminderKind::Battles => Self::Battles,
            ReminderKind::Streaks => Self::Streaks,
        }
    }
}

impl From<reminders::ReminderKind> for ReminderKind {
    fn from(k: reminders::ReminderKind) -> Self {
        match k {
            reminders::ReminderKind::Battles => Self::Battles,
            reminders::ReminderKind::Streaks => Self::Streaks,
        }
    }
}

/// One participant of a battle.
#[derive(SimpleObject)]
pub struct BattleParticipant {
    /// The participant's user id.
    pub user_id: ID,
    /// When they submitted their entry for the current turn (null: reminders may go out).
    pub submitted_at: Option<DateTime<Utc>>,
}

/// A battle as the app pushed it: what the battle scan reads.
#[derive(SimpleObject)]
pub struct Battle {
    /// The app's id of the battle.
    pub battle_id: ID,
    /// What the battle is about, as reminders name it.
    pub topic: String,
    /// Where the battle is in the app (a path or URL).
    pub link: String,
    /// Whether it runs (reminders go) or ended.
    pub status: BattleStatus,
    /// The deadline of the current turn.
    pub deadline_at: DateTime<Utc>,
    /// Who takes part, with when each submitted.
    pub participants: Vec<BattleParticipant>,
}

impl From<BattleWithParticipants> for Battle {
    fn from((battle, people): BattleWithParticipants) -> Self {
        Self {
            battle_id: ID(battle.battle_id),
            topic: battle.topic,
            link: battle.link,
            status: battle.status.into(),
            deadline_at: battle.deadline_at,
            participants: people
                .into_iter()
                .map(|p| BattleParticipant {
                    user_id: ID(p.user_id),
                    submitted_at: p.submitted_at,
                })
                .collect(),
        }
    }
}

/// A user's daily streak as the app pushed it: what the streak scan reads.
#[derive(SimpleObject)]
pub struct Streak {
    /// Whose streak it is.
    pub user_id: ID,
    /// Days in a row so far.
    pub current_days: i32,
    /// The last day with activity, in the user's local calendar.
    pub last_activity_date: Date,
    /// When the next streak alert is due (null: none pending).
    pub next_alert_at: Option<DateTime<Utc>>,
}

impl From<crate::store::reminders::StreakRow> for Streak {
    fn from(s: crate::store::reminders::StreakRow) -> Self {
        Self {
            user_id: ID(s.user_id),
            current_days: s.current_days,
            last_activity_date: Date(s.last_activity_date),
            next_alert_at: s.next_alert_at,
        }
    }
}

/// What one scan found, queued and skipped.
#[derive(SimpleObject)]
pub struct ReminderRun {
    /// Which scan ran.
    pub kind: ReminderKind,
    /// Reminders due now.
    pub found: i32,
    /// New messages queued.
    pub enqueued: i32,
    /// Due but not queued: sent before, refused by policy (logged as blocked), too late, unknown user.
    pub skipped: i32,
    /// When it started.
    pub started_at: DateTime<Utc>,
    /// When it finished.
    pub finished_at: DateTime<Utc>,
}

impl From<reminders::ReminderRun> for ReminderRun {
    fn from(r: reminders::ReminderRun) -> Self {
        let n = |v: u64| i32::try_from(v).unwrap_or(i32::MAX);
        Self {
            kind: r.kind.into(),
            found: n(r.report.found),
            enqueued: n(r.report.enqueued),
            skipped: n(r.report.skipped),
            started_at: r.started_at,
            finished_at: r.finished_at,
        }
    }
}

/// One participant of a battle, as the app knows them.
#[derive(InputObject, Debug)]
pub struct BattleParticipantInput {
    /// The participant's user id.
    pub user_id: ID,
    /// When they submitted this turn; null while they have not (they get reminders).
    pub submitted_at: Option<DateTime<Utc>>,
}

/// A battle as it is now; participants not listed are removed.
#[derive(InputObject, Debug)]
pub struct BattleInput {
    /// The app's id of the battle.
    pub battle_id: ID,
    /// What the battle is about (reminders name it).
    pub topic: String,
    /// Where the battle is in the app (a path or URL).
    pub link: String,
    /// ACTIVE while it runs; COMPLETED or CANCELLED stop its reminders.
    pub status: BattleStatus,
    /// When the current turn ends: reminders come the lead times before (REMINDER_LEAD_TIMES).
    pub deadline_at: DateTime<Utc>,
    /// Everyone taking part; participants not listed are removed.
    pub participants: Vec<BattleParticipantInput>,
}

/// A user's streak as the app knows it.
#[derive(InputObject, Debug)]
pub struct StreakInput {
    /// Whose streak it is.
    pub user_id: ID,
    /// Days in a row so far (0 or more).
    pub current_days: i32,
    /// The last day with activity in the user's local calendar (YYYY-MM-DD).
    pub last_activity_date: Date,
}
