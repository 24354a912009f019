use async_graphql::{Enum, ID, InputObject, SimpleObject};
use chrono::{DateTime, Utc};

use super::scalars::Date;

use crate::reminders::{self, facts::BattleWithParticipants};

#[derive(Enum, Clone, Copy, PartialEq, Eq, Debug)]
#[graphql(remote = "crate::store::BattleStatus")]
pub enum BattleStatus {
    /// Running: participants who have not submitted get reminders.
    Active,
    Completed,
    Cancelled,
}

#[derive(Enum, Clone, Copy, PartialEq, Eq, Debug)]
pub enum ReminderKind {
    Battles,
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

#[derive(SimpleObject)]
pub struct BattleParticipant {
    pub user_id: ID,
    /// When they submitted their entry for the current turn (null: reminders may go out).
    pub submitted_at: Option<DateTime<Utc>>,
}

#[derive(SimpleObject)]
pub struct Battle {
    pub battle_id: ID,
    pub topic: String,
    pub link: String,
    pub status: BattleStatus,
    /// The deadline of the current turn.
    pub deadline_at: DateTime<Utc>,
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

#[derive(SimpleObject)]
pub struct Streak {
    pub user_id: ID,
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
    pub kind: ReminderKind,
    /// Reminders due now.
    pub found: i32,
    /// New messages queued.
    pub enqueued: i32,
    /// Due but not queued: sent before, refused by policy (logged as blocked), too late, unknown user.
    pub skipped: i32,
    pub started_at: DateTime<Utc>,
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

#[derive(InputObject, Debug)]
pub struct BattleParticipantInput {
    pub user_id: ID,
    pub submitted_at: Option<DateTime<Utc>>,
}

/// A battle as it is now; participants not listed are removed.
#[derive(InputObject, Debug)]
pub struct BattleInput {
    pub battle_id: ID,
    pub topic: String,
    pub link: String,
    pub status: BattleStatus,
    pub deadline_at: DateTime<Utc>,
    pub participants: Vec<BattleParticipantInput>,
}

#[derive(InputObject, Debug)]
pub struct StreakInput {
    pub user_id: ID,
    pub current_days: i32,
    /// The last day with activity in the user's local calendar (YYYY-MM-DD).
    pub last_activity_date: Date,
}
