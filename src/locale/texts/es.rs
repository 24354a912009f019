//! Spanish (`es-US`), for the United States. Every fixed word is GSM-7 (no á, í, ó or ú: é, ñ, ü, ¡
//! and ¿ are in GSM-7), so a text costs what its English one does unless what the app passes in
//! (a name, a topic) needs UCS-2. The footer and answers name STOP, which carriers and AWS honour in
//! every program, beside the Spanish keywords.

use super::Texts;

pub const TEXTS: Texts = Texts {
    tag: "es-US",
    name: "Español",
    battle_invitation: "{app}: {inviter} te reta a una batalla: \"{topic}\". Acepta: {link}",
    battle_result: "{app}: Tu batalla \"{topic}\" ha terminado. {summary} Mira los resultados: {link}",
    battle_reminder: "{app}: Te quedan {time_remaining} para enviar tu entrada en \"{topic}\". {link}",
    streak_alert: "{app}: ¡No pierdas tu racha de {days}! Termina a medianoche. Sigue: {link}",
    phone_verification: "{app}: {code} es tu clave para verificar tu teléfono. Vence en 10 minutos. No la compartas con nadie.",
    direct_message: "{app}: {sender} te ha enviado un mensaje. Léelo: {link}",
    achievement_unlocked: "{app}: ¡Has desbloqueado \"{name}\"! Velo: {link}",
    security_alert: "{app}, alerta de seguridad: {what}. Si no lo reconoces, protege tu cuenta: {link}",
    stop_footer: "Responde STOP para cancelar.",
    stop_answer: "{app}: Te has dado de baja y ya no te enviaremos mensajes. Responde COMENZAR para volver.",
    start_answer: "{app}: Te has suscrito de nuevo. Pueden aplicarse tarifas de mensajes y datos. Responde AYUDA para ayuda, ALTO para cancelar.",
    help_answer: "{app}: Alertas de batallas y rachas. Ayuda: {contact}. Pueden aplicarse tarifas de mensajes y datos. Responde ALTO para cancelar.",
    digest_invitations_one: "{app}: {who} te ha retado a {n} batallas",
    digest_invitations: "{app}: {who} te han retado a {n} batallas",
    digest_results: "{app}: {n} de tus batallas han terminado",
    digest_two: "{a} y {b}",
    digest_many: "{a} y otros {n}",
    digest_friends: "Tus amigos",
    digest_more: "otras {n}",
    digest_accept: "Acepta: {link}",
    digest_see_results: "Mira los resultados: {link}",
    hours: ("hora", "horas"),
    minutes: ("minuto", "minutos"),
    stop_words: &["ALTO", "PARAR", "CANCELAR"],
    start_words: &["COMENZAR"],
    help_words: &["AYUDA"],
};
