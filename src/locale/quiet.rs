//! Quiet hours: no promotional text inside this window of the recipient's local time.

use chrono::{DateTime, Duration, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuietHours {
    pub start: NaiveTime,
    pub end: NaiveTime,
}

impl QuietHours {
    /// Parses `21:00-08:00`.
    pub fn parse(s: &str) -> Result<Self, String> {
        let (a, b) = s
            .split_once('-')
            .ok_or_else(|| format!("'{s}' is not a window such as 21:00-08:00"))?;
        let time = |t: &str| {
            NaiveTime::parse_from_str(t.trim(), "%H:%M")
                .map_err(|_| format!("'{}' is not a time such as 21:00", t.trim()))
        };
        let (start, end) = (time(a)?, time(b)?);
        if start == end {
            return Err("the window starts and ends at the same time".into());
        }
        Ok(Self { start, end })
    }

    pub fn contains(&self, t: NaiveTime) -> bool {
        if self.start < self.end {
            self.start <= t && t < self.end
        } else {
            t >= self.start || t < self.end
        }
    }

    /// Whether every minute of `other` is inside this window.
    pub fn covers(&self, other: Self) -> bool {
        (0..24 * 60).all(|m| {
            let t = NaiveTime::MIN + Duration::minutes(m);
            !other.contains(t) || self.contains(t)
        })
    }

    /// A window that holds both this one and `other`: the larger when one holds the other; for two
    /// windows of the same kind (both over midnight, or neither) the earlier start to the later end.
    /// A daytime window and a night-time one that neither holds keep this one.
    pub fn widened_by(self, other: Self) -> Self {
        if self.covers(other) {
            return self;
        }
        if other.covers(self) {
            return other;
        }
        if (self.start > self.end) == (other.start > other.end) {
            Self {
                start: self.start.min(other.start),
                end: self.end.max(other.end),
            }
        } else {
            self
        }
    }

    /// How long the window lasts.
    pub fn span(&self) -> Duration {
        let span = self.end.signed_duration_since(self.start);
        if span > Duration::zero() {
            span
        } else {
            span + Duration::days(1)
        }
    }

    /// If `at` is inside quiet hours in `tz`: when that quiet window began and when it ends.
    pub fn window(&self, tz: Tz, at: DateTime<Utc>) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
        let (start, end_day) = self.start_of_window(tz, at)?;
        Some((start, local_instant(tz, end_day, self.end)))
    }

    /// If `at` is inside quiet hours in `tz`: when that window began, and the local day it ends on.
    /// Half the work of `window` for callers that need only the start (the reminder scan).
    pub fn start_of_window(&self, tz: Tz, at: DateTime<Utc>) -> Option<(DateTime<Utc>, NaiveDate)> {
        let local = at.with_timezone(&tz);
        let t = local.time();
        if !self.contains(t) {
            return None;
        }
        let today = local.date_naive();
        let (start_day, end_day) = if self.start < self.end {
            (today, today)
        } else if t >= self.start {
            (today, today + Duration::days(1))
        } else {
            (today - Duration::days(1), today)
        };
        Some((local_instant(tz, start_day, self.start), end_day))
    }
}

/// Whether `now` is in the last minute before quiet hours begin, at one of the local times `starts`,
/// in any time zone there is. Only then can the reminder scan pull a reminder forward out of quiet
/// hours (it sends such a reminder in that minute), so at every other minute it need not look past the
/// reminders already due: at most minutes of the hour no zone on Earth is in such a minute (zone offsets
/// are whole hours, or :30 and :45).
pub fn before_quiet_anywhere(starts: &[NaiveTime], now: DateTime<Utc>) -> bool {
    if starts.is_empty() {
        return false;
    }
    chrono_tz::TZ_VARIANTS.iter().any(|tz| {
        let local = now.with_timezone(tz);
        let t = local.time();
        starts.iter().any(|start| {
            // Cheap first: within two hours of the start on the wall clock (a daylight-saving shift
            // moves it by one at most), then exactly as `start_of_window` places the start.
            let gap = start
                .signed_duration_since(t)
                .num_seconds()
                .rem_euclid(86_400);
            gap <= 7_200
                && [local.date_naive(), local.date_naive() + Duration::days(1)]
                    .into_iter()
                    .any(|day| {
                        let begins = local_instant(*tz, day, *start);
                        now >= begins - Duration::minutes(1) && now < begins
                    })
        })
    })
}

/// The instant a local wall-clock time occurs in `tz`. In a daylight-saving gap the clock jumps past
/// the time; the instant the gap ends is taken. In a fold the earlier instant is taken.
pub fn local_instant(tz: Tz, date: NaiveDate, time: NaiveTime) -> DateTime<Utc> {
    let naive: NaiveDateTime = date.and_time(time);
    let mut probe = naive;
    for _ in 0..=4 {
        if let Some(t) = tz.from_local_datetime(&probe).earliest() {
            return t.with_timezone(&Utc);
        }
        probe += Duration::minutes(30);
    }
    tz.from_utc_datetime(&naive).with_timezone(&Utc)
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn hm(h: u32, m: u32) -> NaiveTime {
        NaiveTime::from_hms_opt(h, m, 0).expect("time")
    }

    #[test]
    fn the_minute_before_quiet_hours_somewhere() {
        let at = |h, m, s| {
            Utc.with_ymd_and_hms(2026, 3, 2, h, m, s)
                .single()
                .expect("t")
        };
        let federal = [hm(21, 0)];
        // 01:59:30 UTC = 20:59:30 in New York (UTC-5), and in every other whole-hour zone at :59.
        assert!(before_quiet_anywhere(&federal, at(1, 59, 30)));
        assert!(
            before_quiet_anywhere(&federal, at(14, 59, 0)),
            "Dhaka (UTC+6) at 20:59"
        );
        // At :29 the half-hour zones: 15:29 UTC = 20:59 in Kolkata (UTC+5:30).
        assert!(before_quiet_anywhere(&federal, at(15, 29, 0)));
        // At :14 the quarter-hour ones: 15:14 UTC = 20:59 in Kathmandu (UTC+5:45).
        assert!(before_quiet_anywhere(&federal, at(15, 14, 0)));
        // Any other minute: no zone is a minute before 21:00.
        for (h, m) in [(15, 0), (2, 0), (12, 37), (23, 58), (9, 30), (9, 15)] {
            assert!(!before_quiet_anywhere(&federal, at(h, m, 0)), "{h}:{m}");
        }
        // A state's earlier start counts too: 00:59:30 UTC is 19:59:30 in New York.
        assert!(before_quiet_anywhere(&[hm(20, 0)], at(0, 59, 30)));
        assert!(
            !before_quiet_anywhere(&[], at(1, 59, 30)),
            "no quiet hours, nothing to pull"
        );
        // Exactly as the window's start is placed: the minute before 21:00 on the day New York moves its
        // clocks (8 March 2026, UTC-4 from then on) is 00:59 UTC the next day.
        let dst = Utc
            .with_ymd_and_hms(2026, 3, 9, 0, 59, 10)
            .single()
            .expect("t");
        assert!(before_quiet_anywhere(&federal, dst));
    }

    #[test]
    fn windows_across_midnight() {
        let q = QuietHours::parse("21:00-08:00").expect("valid");
        assert!(q.contains(hm(21, 0)) && q.contains(hm(23, 59)) && q.contains(hm(7, 59)));
        assert!(!q.contains(hm(8, 0)) && !q.contains(hm(20, 59)) && !q.contains(hm(12, 0)));
        let tz: Tz = "America/Los_Angeles".parse().expect("tz");
        // 06:00 UTC on 2 March = 22:00 the evening before in Los Angeles (UTC-8).
        let at = Utc
            .with_ymd_and_hms(2026, 3, 2, 6, 0, 0)
            .single()
            .expect("t");
        let (start, end) = q.window(tz, at).expect("quiet");
        assert_eq!(
            start,
            Utc.with_ymd_and_hms(2026, 3, 2, 5, 0, 0)
                .single()
                .expect("t")
        );
        assert_eq!(
            end,
            Utc.with_ymd_and_hms(2026, 3, 2, 16, 0, 0)
                .single()
                .expect("t")
        );
        assert!(
            q.window(
                tz,
                Utc.with_ymd_and_hms(2026, 3, 2, 20, 0, 0)
                    .single()
                    .expect("t")
            )
            .is_none()
        );
    }

    #[test]
    fn daytime_windows_and_bad_input() {
        let q = QuietHours::parse("12:00-13:30").expect("valid");
        assert!(q.contains(hm(12, 0)) && !q.contains(hm(13, 30)));
        for bad in ["21-08", "21:00", "25:00-08:00", "08:00-08:00"] {
            assert!(QuietHours::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_time_in_a_dst_gap_becomes_the_end_of_the_gap() {
        let tz: Tz = "America/New_York".parse().expect("tz");
        let date = NaiveDate::from_ymd_opt(2026, 3, 8).expect("date");
        // 02:30 does not exist that night; clocks jump from 02:00 EST to 03:00 EDT (07:00 UTC).
        assert_eq!(
            local_instant(tz, date, hm(2, 30)),
            Utc.with_ymd_and_hms(2026, 3, 8, 7, 0, 0)
                .single()
                .expect("t")
        );
        assert_eq!(
            local_instant(tz, date, hm(18, 0)),
            Utc.with_ymd_and_hms(2026, 3, 8, 22, 0, 0)
                .single()
                .expect("t")
        );
    }
}
