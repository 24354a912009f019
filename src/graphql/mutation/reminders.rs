use async_graphql::{Context, ID, Object};

use crate::{
    auth::Role,
    error::{ApiError, ApiResult},
    graphql::{
        audit_admin, handle, require_role,
        types::reminders::{Battle, BattleInput, ReminderKind, ReminderRun, Streak, StreakInput},
    },
    reminders::{
        Scans,
        facts::{BattleFacts, Facts, FactsError},
    },
};

impl From<FactsError> for ApiError {
    fn from(e: FactsError) -> Self {
        match e {
            FactsError::Invalid(m) => ApiError::BadUserInput(m),
            FactsError::NotFound(m) => ApiError::NotFound(m),
            FactsError::Db(db) => db.into(),
        }
    }
}

#[derive(Default)]
pub struct RemindersMutation;

#[Object]
impl RemindersMutation {
    /// Creates or replaces a battle: its topic, link, status, the deadline of the current turn and the
    /// participants (with whether each has submitted). Idempotent.
    async fn upsert_battle(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The battle as it is now.")] input: BattleInput,
    ) -> ApiResult<Battle> {
        let viewer = require_role(ctx, &[Role::Service, Role::Admin])?;
        let target = input.battle_id.0.clone();
        let facts = BattleFacts {
            battle_id: input.battle_id.0,
            topic: input.topic,
            link: input.link,
            status: input.status.into(),
            deadline_at: input.deadline_at,
            participants: input
                .participants
                .into_iter()
                .map(|p| (p.user_id.0, p.submitted_at))
                .collect(),
        };
        let battle = handle::<Facts>(ctx)?.upsert_battle(facts).await?.into();
        audit_admin(ctx, viewer, ("upsertBattle", &target), None).await?;
        Ok(battle)
    }

    /// Marks a participant's entry as submitted: no more reminders for them this turn. Idempotent.
    async fn record_battle_submission(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The battle the participant submitted to.")] battle_id: ID,
        #[graphql(desc = "The participant who submitted.")] user_id: ID,
    ) -> ApiResult<Battle> {
        let viewer = require_role(ctx, &[Role::Service, Role::Admin])?;
        let battle = handle::<Facts>(ctx)?
            .record_submission(&battle_id, &user_id)
            .await?
            .into();
        let detail = Some(format!("user {}", user_id.as_str()));
        audit_admin(ctx, viewer, ("recordBattleSubmission", &battle_id), detail).await?;
        Ok(battle)
    }

    /// Creates or updates a user's streak and schedules its alert at the alert time of the user's own
    /// day after `lastActivityDate`. Idempotent.
    async fn upsert_streak(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The user's streak as it is now.")] input: StreakInput,
    ) -> ApiResult<Streak> {
        let viewer = require_role(ctx, &[Role::Service, Role::Admin])?;
        let streak = handle::<Facts>(ctx)?
            .upsert_streak(
                &input.user_id,
                input.current_days,
                input.last_activity_date.0,
            )
            .await?
            .into();
        audit_admin(ctx, viewer, ("upsertStreak", &input.user_id), None).await?;
        Ok(streak)
    }

    /// Runs a reminder scan now and reports what it found, queued and skipped. For operators.
    async fn run_reminder_scan(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Which scan to run now.")] kind: ReminderKind,
    ) -> ApiResult<ReminderRun> {
        let viewer = require_role(ctx, &[Role::Admin])?;
        let run: ReminderRun = handle::<Scans>(ctx)?.run(kind.into()).await?.into();
        let detail = format!(
            "found {}, enqueued {}, skipped {}",
            run.found, run.enqueued, run.skipped
        );
        let target = format!("{:?}", run.kind).to_ascii_lowercase();
        audit_admin(ctx, viewer, ("runReminderScan", &target), Some(detail)).await?;
        Ok(run)
    }
}
