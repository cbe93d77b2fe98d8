//! SLA clocks on a business-hours calendar (docs/API.md §3).

use std::str::FromStr;

use chrono::{
    DateTime, Datelike, Duration, FixedOffset, NaiveDateTime, NaiveTime, Offset, TimeZone, Utc,
};
use serde::{Deserialize, Serialize};

use super::plan::Plan;
use super::ticket::Priority;

const DAY_NAMES: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];

/// A weekly calendar: the same daily window on each business day, in one
/// fixed UTC offset. Parsed from `HELPLINE_BUSINESS_HOURS`, e.g.
/// `Mon-Fri 09:00-17:00 UTC`, `Mon,Wed,Fri 08:30-12:00 +02:00`, `Mon-Sun 00:00-24:00 UTC`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BusinessHours {
    /// Indexed by `Weekday::num_days_from_monday()`.
    days: [bool; 7],
    /// Minutes after local midnight; `start < end <= 24:00`.
    start: u32,
    end: u32,
    offset: FixedOffset,
    /// How long one SLA hour lasts: an hour, unless `HELPLINE_SLA_HOUR` shortens it to demo
    /// or test SLA alerts.
    hour: Duration,
}

impl Default for BusinessHours {
    fn default() -> Self {
        Self {
            days: [true, true, true, true, true, false, false],
            start: 9 * 60,
            end: 17 * 60,
            offset: Utc.fix(),
            hour: Duration::hours(1),
        }
    }
}

impl FromStr for BusinessHours {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let parts: Vec<&str> = s.split_whitespace().collect();
        let [days, window, tz] = parts[..] else {
            return Err(format!(
                "expected `<days> <HH:MM-HH:MM> <timezone>` like `Mon-Fri 09:00-17:00 UTC`, got `{s}`"
            ));
        };
        let days = parse_days(days)?;
        let (start, end) = parse_window(window)?;
        let offset = parse_offset(tz)?;
        Ok(Self {
            days,
            start,
            end,
            offset,
            hour: Duration::hours(1),
        })
    }
}

fn parse_day(name: &str) -> Result<usize, String> {
    DAY_NAMES
        .iter()
        .position(|d| d.eq_ignore_ascii_case(name))
        .ok_or_else(|| format!("unknown day `{name}` (use Mon, Tue, Wed, Thu, Fri, Sat, Sun)"))
}

/// A comma list of days or ranges; a range may wrap around the week (`Fri-Mon`).
fn parse_days(spec: &str) -> Result<[bool; 7], String> {
    let mut days = [false; 7];
    for item in spec.split(',') {
        match item.split_once('-') {
            Some((first, last)) => {
                let (first, last) = (parse_day(first)?, parse_day(last)?);
                let len = (last + 7 - first) % 7 + 1;
                for i in 0..len {
                    days[(first + i) % 7] = true;
                }
            }
            None => days[parse_day(item)?] = true,
        }
    }
    Ok(days)
}

/// `HH:MM` as minutes after midnight; `24:00` is accepted (as an end of day).
fn parse_time(s: &str) -> Result<u32, String> {
    let bad = || format!("invalid time `{s}` (expected HH:MM)");
    let (h, m) = s.split_once(':').ok_or_else(bad)?;
    let two_digits = |p: &str| p.len() == 2 && p.bytes().all(|b| b.is_ascii_digit());
    if !two_digits(h) || !two_digits(m) {
        return Err(bad());
    }
    let h: u32 = h.parse().map_err(|_| bad())?;
    let m: u32 = m.parse().map_err(|_| bad())?;
    match (h, m) {
        (0..=23, 0..=59) | (24, 0) => Ok(h * 60 + m),
        _ => Err(bad()),
    }
}

fn parse_window(s: &str) -> Result<(u32, u32), String> {
    let (start, end) = s
        .split_once('-')
        .ok_or_else(|| format!("invalid hours `{s}` (expected HH:MM-HH:MM)"))?;
    let (start, end) = (parse_time(start)?, parse_time(end)?);
    if start >= end {
        return Err(format!("hours `{s}` must end after they start"));
    }
    Ok((start, end))
}

fn parse_offset(s: &str) -> Result<FixedOffset, String> {
    let bad = || format!("invalid timezone `{s}` (use UTC or a fixed offset like +02:00)");
    if s.eq_ignore_ascii_case("UTC") {
        return Ok(Utc.fix());
    }
    let (sign, rest) = match s.as_bytes().first() {
        Some(b'+') => (1, &s[1..]),
        Some(b'-') => (-1, &s[1..]),
        _ => return Err(bad()),
    };
    let minutes = parse_time(rest).map_err(|_| bad())?;
    let seconds = i32::try_from(minutes * 60).map_err(|_| bad())?;
    FixedOffset::east_opt(sign * seconds).ok_or_else(bad)
}

impl BusinessHours {
    /// The same calendar with SLA hours of `hour` (positive) instead of an hour.
    pub fn with_hour(self, hour: std::time::Duration) -> Self {
        match Duration::from_std(hour) {
            Ok(hour) if hour > Duration::zero() => Self { hour, ..self },
            _ => self,
        }
    }

    /// `hours` SLA hours (see `with_hour`), saturating.
    fn hours(&self, hours: u32) -> Duration {
        self.hour
            .checked_mul(i32::try_from(hours).unwrap_or(i32::MAX))
            .unwrap_or(Duration::MAX)
    }

    /// The instant `hours` business hours after `start`. Only time inside a
    /// business window counts; from outside one, the clock starts at the next
    /// opening. A deadline landing exactly on a window's end is that end
    /// (e.g. 8 h from Monday 09:00 is Monday 17:00, not Tuesday 09:00).
    pub fn add_business_hours(&self, start: DateTime<Utc>, hours: u32) -> DateTime<Utc> {
        self.add_business_time(start, self.hours(hours))
            .unwrap_or(DateTime::<Utc>::MAX_UTC)
    }

    /// `None` only if the result falls outside chrono's date range.
    fn add_business_time(&self, start: DateTime<Utc>, amount: Duration) -> Option<DateTime<Utc>> {
        // Parsing guarantees at least one business day, so `per_week` is positive.
        let business_days = self.days.iter().filter(|&&d| d).count();
        let window = Duration::minutes(i64::from(self.end - self.start));
        let per_week = window.checked_mul(i32::try_from(business_days).ok()?)?;
        let offset = Duration::seconds(i64::from(self.offset.local_minus_utc()));
        let at_minute = |day: NaiveDateTime, minute: u32| {
            day.checked_add_signed(Duration::minutes(i64::from(minute)))
        };

        let mut remaining = amount;
        let mut now: NaiveDateTime = start.naive_utc().checked_add_signed(offset)?;
        loop {
            let date = now.date();
            if self.days[date.weekday().num_days_from_monday() as usize] {
                let midnight = date.and_time(NaiveTime::MIN);
                let open = at_minute(midnight, self.start)?;
                let close = at_minute(midnight, self.end)?;
                if now < close {
                    let from = now.max(open);
                    let available = close - from;
                    if remaining <= available {
                        let local = from.checked_add_signed(remaining)?;
                        return Some(Utc.from_utc_datetime(&local.checked_sub_signed(offset)?));
                    }
                    remaining -= available;
                }
            }
            now = date.succ_opt()?.and_time(NaiveTime::MIN);
            // Any 7 days starting at a midnight hold exactly `per_week`, so skip whole
            // weeks (leaving some time over) instead of walking day by day.
            if remaining > per_week {
                let weeks = (remaining.num_seconds() - 1) / per_week.num_seconds();
                now = now.checked_add_signed(Duration::try_weeks(weeks)?)?;
                remaining -= per_week.checked_mul(i32::try_from(weeks).ok()?)?;
            }
        }
    }
}

/// When the first operator response is due, or `None` for best-effort plans.
/// Enterprise urgent tickets run on a 24/7 clock; everything else on `hours`.
pub fn first_response_due(
    plan: Plan,
    priority: Priority,
    created_at: DateTime<Utc>,
    hours: &BusinessHours,
) -> Option<DateTime<Utc>> {
    into_window(plan, priority, created_at, hours, 1, 1)
}

/// When a still unanswered ticket gets its SLA warning: at 80 % of the first-response
/// window, on the same clock as the due time.
pub fn first_response_warning(
    plan: Plan,
    priority: Priority,
    created_at: DateTime<Utc>,
    hours: &BusinessHours,
) -> Option<DateTime<Utc>> {
    into_window(plan, priority, created_at, hours, 4, 5)
}

/// The instant `numerator / denominator` of the first-response window after `created_at`.
fn into_window(
    plan: Plan,
    priority: Priority,
    created_at: DateTime<Utc>,
    hours: &BusinessHours,
    numerator: i32,
    denominator: i32,
) -> Option<DateTime<Utc>> {
    let target = plan.spec().target_hours?;
    let window = hours.hours(target);
    let part = window
        .checked_mul(numerator)
        .map_or(window, |w| w / denominator);
    let at = if plan == Plan::Enterprise && priority == Priority::Urgent {
        created_at.checked_add_signed(part)
    } else {
        hours.add_business_time(created_at, part)
    };
    Some(at.unwrap_or(DateTime::<Utc>::MAX_UTC))
}

/// The SLA a ticket copies from its tenant's plan at creation; a later plan
/// change never touches it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SlaSnapshot {
    pub tier: String,
    pub first_response_target: String,
    pub priority_queue: bool,
    pub first_response_due_at: Option<DateTime<Utc>>,
}

impl SlaSnapshot {
    pub fn for_ticket(
        plan: Plan,
        priority: Priority,
        created_at: DateTime<Utc>,
        hours: &BusinessHours,
    ) -> Self {
        let spec = plan.spec();
        Self {
            tier: spec.sla_tier.to_owned(),
            first_response_target: spec.first_response_target.to_owned(),
            priority_queue: spec.priority_queue,
            first_response_due_at: first_response_due(plan, priority, created_at, hours),
        }
    }
}

/// Whether the first response came (or, still unanswered, is) after the due time.
pub fn breached(
    due: Option<DateTime<Utc>>,
    first_response_at: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> bool {
    due.is_some_and(|due| first_response_at.unwrap_or(now) > due)
}

/// When an unanswered ticket reaches 80 % of its first-response window (the warning).
pub fn warning_at(created_at: DateTime<Utc>, due: DateTime<Utc>) -> DateTime<Utc> {
    created_at + (due - created_at) * 4 / 5
}

/// Where a ticket stands against its first-response target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SlaStanding {
    /// Best-effort support: no due time.
    NoTarget,
    /// Answered in time.
    Met,
    /// Unanswered, before the warning.
    OnTrack,
    /// Unanswered, past 80 % of the window.
    DueSoon,
    /// Answered late, or unanswered past the due time.
    Breached,
}

pub fn standing(
    created_at: DateTime<Utc>,
    due: Option<DateTime<Utc>>,
    first_response_at: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> SlaStanding {
    let Some(due) = due else {
        return SlaStanding::NoTarget;
    };
    match first_response_at {
        Some(at) if at <= due => SlaStanding::Met,
        Some(_) => SlaStanding::Breached,
        None if now > due => SlaStanding::Breached,
        None if now >= warning_at(created_at, due) => SlaStanding::DueSoon,
        None => SlaStanding::OnTrack,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2024-06-03 is a Monday.
    fn at(day: u32, h: u32, m: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2024, 6, day, h, m, 0).unwrap()
    }

    const MON: u32 = 3;
    const TUE: u32 = 4;
    const WED: u32 = 5;
    const FRI: u32 = 7;
    const SAT: u32 = 8;
    const NEXT_MON: u32 = 10;

    fn default_hours() -> BusinessHours {
        BusinessHours::default()
    }

    #[test]
    fn default_matches_documented_string() {
        assert_eq!(
            "Mon-Fri 09:00-17:00 UTC".parse::<BusinessHours>(),
            Ok(BusinessHours::default())
        );
    }

    #[test]
    fn friday_afternoon_rolls_over_the_weekend() {
        let due = default_hours().add_business_hours(at(FRI, 16, 0), 4);
        assert_eq!(due, at(NEXT_MON, 12, 0));
    }

    #[test]
    fn weekend_start_waits_for_monday() {
        let due = default_hours().add_business_hours(at(SAT, 10, 0), 1);
        assert_eq!(due, at(NEXT_MON, 10, 0));
    }

    #[test]
    fn evening_start_waits_for_next_morning() {
        let due = default_hours().add_business_hours(at(TUE, 20, 0), 2);
        assert_eq!(due, at(WED, 11, 0));
    }

    #[test]
    fn start_exactly_at_close_counts_from_next_morning() {
        let due = default_hours().add_business_hours(at(TUE, 17, 0), 1);
        assert_eq!(due, at(WED, 10, 0));
    }

    #[test]
    fn early_morning_start_waits_for_opening() {
        let due = default_hours().add_business_hours(at(TUE, 6, 30), 1);
        assert_eq!(due, at(TUE, 10, 0));
    }

    #[test]
    fn full_day_ends_at_close_same_day() {
        let due = default_hours().add_business_hours(at(MON, 9, 0), 8);
        assert_eq!(due, at(MON, 17, 0));
    }

    #[test]
    fn seconds_are_preserved() {
        let start = Utc.with_ymd_and_hms(2024, 6, 3, 10, 15, 42).unwrap();
        let due = default_hours().add_business_hours(start, 2);
        assert_eq!(due, Utc.with_ymd_and_hms(2024, 6, 3, 12, 15, 42).unwrap());
    }

    #[test]
    fn many_hours_span_weeks() {
        // 40 business hours per week: 80 h from Monday 09:00 is Friday 17:00 a week later.
        let due = default_hours().add_business_hours(at(MON, 9, 0), 80);
        assert_eq!(due, at(14, 17, 0));
        let due = default_hours().add_business_hours(at(FRI, 16, 0), 81);
        assert_eq!(due, at(21, 17, 0));
        let due = default_hours().add_business_hours(at(FRI, 16, 0), 82);
        assert_eq!(due, at(24, 10, 0));
        // Absurd amounts saturate instead of panicking.
        let due = default_hours().add_business_hours(at(MON, 9, 0), u32::MAX);
        assert_eq!(due, DateTime::<Utc>::MAX_UTC);
    }

    #[test]
    fn zero_hours_is_next_opening() {
        assert_eq!(
            default_hours().add_business_hours(at(SAT, 10, 0), 0),
            at(NEXT_MON, 9, 0)
        );
        assert_eq!(
            default_hours().add_business_hours(at(MON, 11, 0), 0),
            at(MON, 11, 0)
        );
    }

    #[test]
    fn offset_timezone() {
        // 09:00-17:00 at +02:00 is 07:00-15:00 UTC.
        let hours: BusinessHours = "Mon-Fri 09:00-17:00 +02:00".parse().unwrap();
        assert_eq!(
            hours.add_business_hours(at(FRI, 14, 0), 4),
            at(NEXT_MON, 10, 0)
        );
        // Sunday 23:00 UTC is already Monday 01:00 local, still before opening.
        let sunday_late = Utc.with_ymd_and_hms(2024, 6, 9, 23, 0, 0).unwrap();
        assert_eq!(hours.add_business_hours(sunday_late, 1), at(NEXT_MON, 8, 0));

        // 09:00-17:00 at -05:30 is 14:30-22:30 UTC; Friday 22:00 UTC is Friday 16:30 local.
        let hours: BusinessHours = "Mon-Fri 09:00-17:00 -05:30".parse().unwrap();
        assert_eq!(
            hours.add_business_hours(at(FRI, 22, 0), 1),
            Utc.with_ymd_and_hms(2024, 6, 10, 15, 0, 0).unwrap()
        );
    }

    #[test]
    fn day_lists_and_wrapping_ranges() {
        let hours: BusinessHours = "Mon,Wed,Fri 09:00-17:00 UTC".parse().unwrap();
        assert_eq!(hours.add_business_hours(at(MON, 16, 0), 2), at(WED, 10, 0));
        let hours: BusinessHours = "Fri-Mon 09:00-17:00 UTC".parse().unwrap();
        assert_eq!(hours.add_business_hours(at(FRI, 16, 0), 2), at(SAT, 10, 0));
        let hours: BusinessHours = "mon-sun 00:00-24:00 utc".parse().unwrap();
        assert_eq!(hours.add_business_hours(at(SAT, 23, 0), 2), at(9, 1, 0));
    }

    #[test]
    fn parse_errors() {
        let err = |s: &str| s.parse::<BusinessHours>().unwrap_err();
        assert!(err("Mon-Fry 09:00-17:00 UTC").contains("unknown day `Fry`"));
        assert!(err("Monday 09:00-17:00 UTC").contains("unknown day"));
        assert!(err("Mon,,Fri 09:00-17:00 UTC").contains("unknown day"));
        assert!(err("Mon-Fri 17:00-09:00 UTC").contains("must end after they start"));
        assert!(err("Mon-Fri 09:00-09:00 UTC").contains("must end after they start"));
        assert!(err("Mon-Fri 9:00-17:00 UTC").contains("invalid time `9:00`"));
        assert!(err("Mon-Fri +9:00-17:00 UTC").contains("invalid time `+9:00`"));
        assert!(err("Mon-Fri 09:00-24:30 UTC").contains("invalid time"));
        assert!(err("Mon-Fri 09:00 UTC").contains("expected HH:MM-HH:MM"));
        assert!(err("Mon-Fri 09:00-17:00 CET").contains("invalid timezone `CET`"));
        assert!(err("Mon-Fri 09:00-17:00 +2").contains("invalid timezone"));
        assert!(err("Mon-Fri 09:00-17:00 +24:00").contains("invalid timezone"));
        assert!(err("Mon-Fri 09:00-17:00").contains("expected `<days>"));
        assert!(err("").contains("expected `<days>"));
        assert!(err("Mon-Fri 09:00-17:00 UTC extra").contains("expected `<days>"));
    }

    #[test]
    fn enterprise_urgent_runs_around_the_clock() {
        let due = first_response_due(
            Plan::Enterprise,
            Priority::Urgent,
            at(FRI, 16, 0),
            &default_hours(),
        );
        assert_eq!(due, Some(at(FRI, 20, 0)));
    }

    #[test]
    fn due_dates_per_plan() {
        let hours = default_hours();
        let created = at(FRI, 16, 0);
        assert_eq!(
            first_response_due(Plan::Free, Priority::Urgent, created, &hours),
            None
        );
        assert_eq!(
            first_response_due(Plan::Base, Priority::Normal, created, &hours),
            Some(at(NEXT_MON, 16, 0))
        );
        assert_eq!(
            first_response_due(Plan::Pilot, Priority::Urgent, created, &hours),
            Some(at(NEXT_MON, 12, 0))
        );
        assert_eq!(
            first_response_due(Plan::Enterprise, Priority::High, created, &hours),
            Some(at(NEXT_MON, 12, 0))
        );
    }

    #[test]
    fn the_warning_comes_at_80_percent_of_the_window_on_the_same_clock() {
        let hours = default_hours();
        let created = at(FRI, 16, 0);
        // Pilot: 4 business hours, so the warning is 3 h 12 min of business time in.
        assert_eq!(
            first_response_warning(Plan::Pilot, Priority::Normal, created, &hours),
            Some(at(NEXT_MON, 11, 12))
        );
        assert_eq!(
            first_response_warning(Plan::Enterprise, Priority::Urgent, created, &hours),
            Some(at(FRI, 19, 12))
        );
        assert_eq!(
            first_response_warning(Plan::Free, Priority::Urgent, created, &hours),
            None
        );
    }

    #[test]
    fn a_shorter_sla_hour_shrinks_every_window() {
        let hours: BusinessHours = "Mon-Sun 00:00-24:00 UTC".parse().unwrap();
        let hours = hours.with_hour(std::time::Duration::from_secs(1));
        let created = at(MON, 10, 0);
        let due = first_response_due(Plan::Pilot, Priority::Normal, created, &hours);
        assert_eq!(due, Some(created + Duration::seconds(4)));
        let warning = first_response_warning(Plan::Pilot, Priority::Normal, created, &hours);
        assert_eq!(warning, Some(created + Duration::milliseconds(3200)));
        // A zero hour is refused (the setting's parser also refuses it).
        let unchanged = default_hours().with_hour(std::time::Duration::ZERO);
        assert_eq!(unchanged, default_hours());
    }

    #[test]
    fn snapshot_copies_plan_terms() {
        let snap = SlaSnapshot::for_ticket(
            Plan::Enterprise,
            Priority::Urgent,
            at(FRI, 16, 0),
            &default_hours(),
        );
        assert_eq!(
            snap,
            SlaSnapshot {
                tier: "enterprise".into(),
                first_response_target: "4 hours, 24/7 for urgent issues".into(),
                priority_queue: true,
                first_response_due_at: Some(at(FRI, 20, 0)),
            }
        );
        let free = SlaSnapshot::for_ticket(
            Plan::Free,
            Priority::Normal,
            at(MON, 9, 0),
            &default_hours(),
        );
        assert_eq!(free.tier, "community");
        assert_eq!(free.first_response_target, "Best effort, community support");
        assert!(!free.priority_queue);
        assert_eq!(free.first_response_due_at, None);
    }

    #[test]
    fn breach_rules() {
        let due = Some(at(MON, 12, 0));
        // Never breached without a target.
        assert!(!breached(None, None, at(SAT, 0, 0)));
        // Unanswered: judged against now.
        assert!(!breached(due, None, at(MON, 11, 0)));
        assert!(!breached(due, None, at(MON, 12, 0)));
        assert!(breached(due, None, at(MON, 12, 1)));
        // Answered: judged against the first response, whatever now is.
        assert!(!breached(due, Some(at(MON, 11, 59)), at(SAT, 0, 0)));
        assert!(!breached(due, Some(at(MON, 12, 0)), at(SAT, 0, 0)));
        assert!(breached(due, Some(at(MON, 13, 0)), at(MON, 13, 0)));
    }

    #[test]
    fn standing_turns_amber_at_80_percent_and_red_past_due() {
        let created = at(MON, 9, 0);
        let due = at(MON, 19, 0);
        assert_eq!(warning_at(created, due), at(MON, 17, 0));
        let s = |now, answered| standing(created, Some(due), answered, now);
        assert_eq!(s(at(MON, 16, 59), None), SlaStanding::OnTrack);
        assert_eq!(s(at(MON, 17, 0), None), SlaStanding::DueSoon);
        assert_eq!(s(at(MON, 19, 1), None), SlaStanding::Breached);
        assert_eq!(s(at(TUE, 9, 0), Some(at(MON, 18, 0))), SlaStanding::Met);
        assert_eq!(
            s(at(TUE, 9, 0), Some(at(MON, 20, 0))),
            SlaStanding::Breached
        );
        assert_eq!(
            standing(created, None, None, at(TUE, 9, 0)),
            SlaStanding::NoTarget
        );
    }
}
