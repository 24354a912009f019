//! Quiet hours where the person really is: the zones of a recipient (the app's, else the number's),
//! and the stricter rules of some US states, chosen by the number's area code.
//!
//! A promotional text goes out only when it is inside the allowed window in every zone the recipient
//! may be in; the state rules narrow that window and cap promotions per number per 24 hours.

use chrono::{DateTime, Duration, NaiveTime, Utc};
use chrono_tz::Tz;

use super::{
    quiet::{QuietHours, local_instant},
    zones::{self, ZoneSource},
};

/// A state whose law is stricter than the federal 8:00 to 21:00.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateRule {
    /// USPS code of the state, as the area-code table names it (`FL`).
    pub state: String,
    /// No promotional text inside this window of local time.
    pub quiet: QuietHours,
    /// At most this many promotional texts to one number in any 24 hours.
    pub daily_cap: u32,
}

/// The built-in state rules (`SMS_STATE_RULES=on`, the default). Each row was checked against the
/// statute's text; states whose rule could not be confirmed are left out.
pub fn default_state_rules() -> Vec<StateRule> {
    let eight_to_eight = QuietHours {
        start: NaiveTime::from_hms_opt(20, 0, 0).unwrap_or(NaiveTime::MIN),
        end: NaiveTime::from_hms_opt(8, 0, 0).unwrap_or(NaiveTime::MIN),
    };
    let rule = |state: &str| StateRule {
        state: state.to_owned(),
        quiet: eight_to_eight,
        daily_cap: 3,
    };
    vec![
        // Florida: Fla. Stat. § 501.616(6), as amended by ch. 2021-185 (CS/SB 1120): no commercial
        // telephone solicitation "before 8 a.m. or after 8 p.m. local time at the called person's
        // location" (a), nor "more than three ... from any number to a person over a 24-hour period on
        // the same subject matter or issue" (b); § 501.059 counts text messages as telephonic sales
        // calls and presumes a Florida area code means a Florida resident.
        rule("FL"),
        // Oklahoma: Telephone Solicitation Act of 2022 (HB 3168, 15 O.S. § 775C.1 et seq., in force
        // 2022-11-01), modelled on Florida's: calls and texts only from 8:00 to 20:00 at the called
        // party's location, at most three per 24 hours on the same subject, Oklahoma area codes
        // presumed to reach residents.
        rule("OK"),
        // Maryland: Stop the Spam Calls Act of 2023 (SB 90, Md. Code, Com. Law § 14-4501 et seq., in
        // force 2024-01-01): solicitations (calls and texts) only from 8:00 to 20:00 in the called
        // party's time zone, at most three per 24 hours on the same subject.
        rule("MD"),
    ]
}

/// Parses `SMS_STATE_RULES`: `on` (the built-in table), `off`, or a list such as
/// `FL=20:00-08:00/3,OK=20:00-08:00/3` (state, quiet window, promotions per 24 hours).
pub fn parse_state_rules(s: &str) -> Result<Vec<StateRule>, String> {
    match s.trim() {
        "" | "on" => return Ok(default_state_rules()),
        "off" | "none" => return Ok(Vec::new()),
        _ => {}
    }
    s.split(',')
        .map(|item| {
            let item = item.trim();
            let (state, rest) = item
                .split_once('=')
                .ok_or_else(|| format!("'{item}' is not a rule such as FL=20:00-08:00/3"))?;
            let (window, cap) = rest
                .split_once('/')
                .ok_or_else(|| format!("'{item}' needs a daily cap, e.g. FL=20:00-08:00/3"))?;
            let state = state.trim().to_ascii_uppercase();
            if state.len() != 2 || !state.bytes().all(|b| b.is_ascii_alphabetic()) {
                return Err(format!("'{state}' is not a two-letter state code"));
            }
            Ok(StateRule {
                state,
                quiet: QuietHours::parse(window)?,
                daily_cap: cap
                    .trim()
                    .parse()
                    .map_err(|_| format!("'{cap}' is not a whole number of texts"))?,
            })
        })
        .collect()
}

/// Where a recipient is, and which rules hold there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Locale {
    /// Every zone the recipient may be in; never empty.
    pub zones: Vec<Tz>,
    pub source: ZoneSource,
    /// The state rule of the number's area code, when one applies.
    pub state_rule: Option<StateRule>,
    /// The quiet hours that hold: the federal window (`QUIET_HOURS`), widened by the state's.
    pub quiet: Option<QuietHours>,
}

/// A quiet window that holds a moment, across all of a recipient's zones.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuietWindow {
    /// When the first of the zones entered it.
    pub start: DateTime<Utc>,
    /// When it is daytime in every zone again.
    pub end: DateTime<Utc>,
    /// The zone whose quiet hours end last: the one that decides.
    pub zone: Tz,
}

impl Locale {
    /// The recipient's zones: the one the app pushed; else the number's (area code, or country); else
    /// `default`. The state rule comes from the number whatever the zone's source: the state laws apply
    /// to numbers with their area codes.
    pub fn of(
        app_timezone: Option<&str>,
        phone: Option<&str>,
        default: Tz,
        federal: Option<QuietHours>,
        state_rules: &[StateRule],
    ) -> Self {
        let number = phone.and_then(zones::of_number);
        let (zones, source) = match (app_timezone.and_then(|t| t.parse::<Tz>().ok()), &number) {
            (Some(tz), _) => (vec![tz], ZoneSource::App),
            (None, Some(n)) => (n.zones.clone(), n.source),
            (None, None) => (vec![default], ZoneSource::Default),
        };
        let state_rule = number
            .and_then(|n| n.state)
            .and_then(|state| state_rules.iter().find(|r| r.state == state))
            .cloned();
        let quiet = match (federal, &state_rule) {
            (Some(f), Some(rule)) => Some(f.widened_by(rule.quiet)),
            (None, Some(rule)) => Some(rule.quiet),
            (f, None) => f,
        };
        Self {
            zones,
            source,
            state_rule,
            quiet,
        }
    }

    /// The zone shown for the recipient: the last of its zones in the table's order (its only zone,
    /// almost always). `zones` lists them all.
    pub fn primary(&self) -> Tz {
        self.zones.last().copied().unwrap_or(Tz::UTC)
    }

    /// If `at` is inside quiet hours in any of the zones: the window, ending when it is daytime in all
    /// of them.
    pub fn window(&self, at: DateTime<Utc>) -> Option<QuietWindow> {
        let quiet = self.quiet?;
        let mut held: Option<QuietWindow> = None;
        let mut t = at;
        // Zones a few hours apart share a daytime; a few rounds settle it.
        for _ in 0..4 {
            let latest = self
                .zones
                .iter()
                .filter_map(|tz| quiet.window(*tz, t).map(|(start, end)| (start, end, *tz)))
                .max_by_key(|(_, end, _)| *end);
            let Some((start, end, zone)) = latest else {
                break;
            };
            held = Some(QuietWindow {
                start: held.map_or(start, |h| h.start.min(start)),
                end,
                zone,
            });
            t = end;
        }
        held
    }

    /// `window`, with the person's own quiet hours (`own`, local in each of their zones) on top: the
    /// window that holds `at` across both, never shorter than the law's. The flag says the person's
    /// own hours hold `at` where the law's alone would not.
    pub fn window_with(
        &self,
        own: Option<QuietHours>,
        at: DateTime<Utc>,
    ) -> Option<(QuietWindow, bool)> {
        let Some(own) = own else {
            return self.window(at).map(|w| (w, false));
        };
        let own_at = |t: DateTime<Utc>| {
            self.zones
                .iter()
                .filter_map(|tz| own.window(*tz, t).map(|(start, end)| (start, end, *tz)))
                .max_by_key(|(_, end, _)| *end)
        };
        let law_now = self.window(at);
        let mut held: Option<QuietWindow> = None;
        let mut t = at;
        // The law's night and the person's morning may follow each other: a few rounds settle it.
        for _ in 0..6 {
            let law = self.window(t).map(|w| (w.start, w.end, w.zone));
            let latest = [law, own_at(t)]
                .into_iter()
                .flatten()
                .max_by_key(|(_, end, _)| *end);
            let Some((start, end, zone)) = latest else {
                break;
            };
            held = Some(QuietWindow {
                start: held.map_or(start, |h| h.start.min(start)),
                end,
                zone,
            });
            t = end;
        }
        held.map(|w| (w, law_now.is_none()))
    }

    /// If `at` is inside quiet hours in any of the zones: when the first of them entered them. The
    /// reminder scan asks this of every reminder it looks ahead to; it needs no end.
    pub fn quiet_start(&self, at: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let quiet = self.quiet?;
        self.zones
            .iter()
            .filter_map(|tz| quiet.start_of_window(*tz, at).map(|(start, _)| start))
            .min()
    }

    /// The zone that decides at `at` when no zone is quiet: the one whose quiet hours begin soonest
    /// (ties go to the later zone in the table's order).
    pub fn deciding_zone(&self, at: DateTime<Utc>) -> Tz {
        let Some(quiet) = self.quiet else {
            return self.primary();
        };
        self.zones
            .iter()
            .map(|tz| {
                let today = at.with_timezone(tz).date_naive();
                let mut next = local_instant(*tz, today, quiet.start);
                if next <= at {
                    next = local_instant(*tz, today + Duration::days(1), quiet.start);
                }
                (next, *tz)
            })
            .rev()
            .min_by_key(|(next, _)| *next)
            .map_or_else(|| self.primary(), |(_, tz)| tz)
    }
}

/// The deployment's rules of place and time: the zone of recipients nothing else places, the federal
/// quiet hours (`QUIET_HOURS`) and the states' stricter rules (`SMS_STATE_RULES`).
#[derive(Debug, Clone)]
pub struct LocaleRules {
    /// Time zone of recipients whose own is unknown.
    pub default_timezone: Tz,
    /// No promotional text inside this window of the recipient's local time.
    pub quiet_hours: Option<QuietHours>,
    /// States stricter than the federal window, by the number's area code.
    pub state_rules: Vec<StateRule>,
}

impl LocaleRules {
    /// Where a recipient is and which quiet hours hold there: the app's zone for the user, else the
    /// number's; the state rule of the number's area code.
    pub fn locale(&self, app_timezone: Option<&str>, phone: Option<&str>) -> Locale {
        Locale::of(
            app_timezone,
            phone,
            self.default_timezone,
            self.quiet_hours,
            &self.state_rules,
        )
    }

    /// The local times at which quiet hours can begin: the federal window's start and each state's (as
    /// widened by the federal window), without repeats.
    pub fn quiet_starts(&self) -> Vec<NaiveTime> {
        let mut starts: Vec<NaiveTime> = self
            .state_rules
            .iter()
            .map(|r| {
                self.quiet_hours
                    .map_or(r.quiet, |f| f.widened_by(r.quiet))
                    .start
            })
            .chain(self.quiet_hours.map(|q| q.start))
            .collect();
        starts.sort_unstable();
        starts.dedup();
        starts
    }

    /// The longest quiet window any recipient can have: how far ahead a scan must look to pull a
    /// reminder forward out of quiet hours.
    pub fn longest_quiet_span(&self) -> Duration {
        self.state_rules
            .iter()
            .map(|r| {
                self.quiet_hours
                    .map_or(r.quiet, |f| f.widened_by(r.quiet))
                    .span()
            })
            .chain(self.quiet_hours.map(|q| q.span()))
            .max()
            .unwrap_or_else(Duration::zero)
    }
}

/// Locales remembered by what decides them (the app's zone, and the number's area code or the whole
/// number elsewhere), for scans that look at thousands of recipients sharing a few hundred area codes.
#[derive(Debug, Default)]
pub struct LocaleCache {
    seen: std::collections::HashMap<(Option<String>, Option<String>), Locale>,
}

impl LocaleCache {
    pub fn get(
        &mut self,
        app_timezone: Option<&str>,
        phone: Option<&str>,
        locale: impl FnOnce() -> Locale,
    ) -> &Locale {
        // A North American number's area code decides its zones and state; elsewhere the number.
        let number_key = phone.map(|p| match p.strip_prefix("+1") {
            Some(rest) => format!("+1{}", rest.get(..3).unwrap_or(rest)),
            None => p.to_owned(),
        });
        self.seen
            .entry((app_timezone.map(str::to_owned), number_key))
            .or_insert_with(locale)
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use chrono_tz::{America, Europe, Pacific};

    use super::*;

    fn federal() -> Option<QuietHours> {
        QuietHours::parse("21:00-08:00").ok()
    }

    fn at(h: u32, m: u32, tz: Tz) -> DateTime<Utc> {
        tz.with_ymd_and_hms(2026, 3, 2, h, m, 0)
            .single()
            .expect("time")
            .with_timezone(&Utc)
    }

    fn locale(app: Option<&str>, phone: &str) -> Locale {
        Locale::of(
            app,
            Some(phone),
            America::New_York,
            federal(),
            &default_state_rules(),
        )
    }

    #[test]
    fn a_hawaii_number_is_quiet_until_eight_there() {
        let l = locale(None, "+18085551234");
        assert_eq!(
            (l.zones.clone(), l.source),
            (vec![Pacific::Honolulu], ZoneSource::AreaCode)
        );
        let w = l
            .window(at(7, 0, Pacific::Honolulu))
            .expect("quiet at 07:00 in Honolulu");
        assert_eq!(
            (w.end, w.zone),
            (at(8, 0, Pacific::Honolulu), Pacific::Honolulu)
        );
        // The app's zone wins over the number's.
        let pushed = locale(Some("America/New_York"), "+18085551234");
        assert_eq!(pushed.source, ZoneSource::App);
        assert_eq!(pushed.window(at(7, 0, Pacific::Honolulu)), None);
    }

    #[test]
    fn florida_is_quiet_from_eight_in_the_evening_with_a_cap() {
        let l = locale(None, "+13055551234");
        assert_eq!(
            l.state_rule
                .as_ref()
                .map(|r| (r.state.as_str(), r.daily_cap)),
            Some(("FL", 3))
        );
        assert!(l.window(at(20, 30, America::New_York)).is_some());
        assert!(l.window(at(19, 59, America::New_York)).is_none());
        // New York keeps the federal 21:00.
        assert!(
            locale(None, "+12125551234")
                .window(at(20, 30, America::New_York))
                .is_none()
        );
        // With the rules off, Florida is federal too.
        let off = Locale::of(
            None,
            Some("+13055551234"),
            America::New_York,
            federal(),
            &[],
        );
        assert!(off.window(at(20, 30, America::New_York)).is_none());
    }

    #[test]
    fn a_split_area_code_waits_for_its_last_zone() {
        // The Florida panhandle: Central and Eastern. At 07:30 Eastern it is 06:30 Central.
        let l = locale(None, "+18505551234");
        let w = l
            .window(at(8, 30, America::New_York))
            .expect("still night in Central time");
        assert_eq!(
            (w.end, w.zone),
            (at(8, 0, America::Chicago), America::Chicago)
        );
        // At 19:30 Eastern it is 18:30 Central: fine in both until 20:00 Eastern (Florida's rule).
        assert_eq!(l.window(at(19, 30, America::New_York)), None);
        assert_eq!(
            l.deciding_zone(at(19, 30, America::New_York)),
            America::New_York
        );
    }

    #[test]
    fn a_uk_number_is_london() {
        let l = locale(None, "+447911123456");
        assert_eq!(l.source, ZoneSource::Country);
        assert_eq!(l.primary(), Europe::London);
        assert_eq!(l.deciding_zone(at(12, 0, Europe::London)), Europe::London);
        assert!(l.window(at(7, 0, Europe::London)).is_some());
    }

    #[test]
    fn state_rules_from_the_environment() {
        assert_eq!(parse_state_rules("on").expect("on").len(), 3);
        assert!(parse_state_rules("off").expect("off").is_empty());
        let custom = parse_state_rules("fl=19:00-09:00/2").expect("custom");
        assert_eq!((custom[0].state.as_str(), custom[0].daily_cap), ("FL", 2));
        for bad in [
            "FL",
            "FL=20:00-08:00",
            "Florida=20:00-08:00/3",
            "FL=20-8/3",
            "FL=20:00-08:00/x",
        ] {
            assert!(parse_state_rules(bad).is_err(), "{bad}");
        }
    }
}
