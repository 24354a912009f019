//! English (`en-US`): the service's first language and the default.

use super::Texts;

pub const TEXTS: Texts = Texts {
    tag: "en-US",
    name: "English",
    battle_invitation: "{app}: {inviter} challenged you to a battle: \"{topic}\". Accept: {link}",
    battle_result: "{app}: Your battle \"{topic}\" is over. {summary} See the results: {link}",
    battle_reminder: "{app}: {time_remaining} left to submit your entry in \"{topic}\". {link}",
    streak_alert: "{app}: Your {days}-day streak ends at midnight. Keep it alive: {link}",
    phone_verification: "{app}: Your verification code is {code}. It expires in 10 minutes. Don't share it with anyone.",
    direct_message: "{app}: {sender} sent you a message. Read it: {link}",
    achievement_unlocked: "{app}: You unlocked \"{name}\"! See it: {link}",
    security_alert: "{app} security alert: {what}. If this wasn't you, secure your account: {link}",
    stop_footer: "Reply STOP to unsubscribe.",
    stop_answer: "{app}: You are unsubscribed and will get no more messages. Reply START to resubscribe.",
    start_answer: "{app}: You are subscribed again. Msg & data rates may apply. Reply HELP for help, STOP to cancel.",
    help_answer: "{app}: Battle and streak alerts. Help: {contact}. Msg & data rates may apply. Reply STOP to cancel.",
    digest_invitations_one: "{app}: {who} challenged you to {n} battles",
    digest_invitations: "{app}: {who} challenged you to {n} battles",
    digest_results: "{app}: {n} of your battles are over",
    digest_two: "{a} and {b}",
    digest_many: "{a} and {n} others",
    digest_friends: "Friends",
    digest_more: "{n} more",
    digest_accept: "Accept: {link}",
    digest_see_results: "See the results: {link}",
    // The carriers' standard words (STOP, START, HELP and the rest) are recognised in every language
    // (`inbound::replies`); English has no others.
    hours: ("hour", "hours"),
    minutes: ("minute", "minutes"),
    stop_words: &[],
    start_words: &[],
    help_words: &[],
};
