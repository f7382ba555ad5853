//! Statewide public holidays of the 16 German states, computed for any year, so an
//! office whose holiday region is e.g. `DE-NW` is closed on them.
//!
//! The rules are a small table (`RULES`) rather than code: each row names a
//! holiday, how its date is found (fixed day, offset from Easter Sunday, or special),
//! the states it applies to and the years it applies in. They describe the law as in
//! force since 1995 (when Buß- und Bettag stopped being nationwide) plus the changes
//! since 2017 named in the table; for earlier years they give today's calendar, not
//! the historical one.
//!
//! Holidays that only some municipalities of a state keep are *not* statewide and are
//! left out on purpose: Fronleichnam in parts of Sachsen and Thüringen, Mariä
//! Himmelfahrt in the predominantly Catholic municipalities of Bayern, and the
//! Augsburger Friedensfest (8 August, city of Augsburg only). An office there that
//! closes on them has to say so in its own opening hours.

use std::fmt;

use chrono::{Datelike, Days, NaiveDate, TimeDelta, Weekday};
use serde::{Deserialize, Serialize};
use thiserror::Error;

/// A German state's holiday calendar, by ISO 3166-2 code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum HolidayRegion {
    BadenWuerttemberg,
    Bayern,
    Berlin,
    Brandenburg,
    Bremen,
    Hamburg,
    Hessen,
    MecklenburgVorpommern,
    Niedersachsen,
    NordrheinWestfalen,
    RheinlandPfalz,
    Saarland,
    Sachsen,
    SachsenAnhalt,
    SchleswigHolstein,
    Thueringen,
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("unknown holiday region {0:?}: expected a German state code such as DE-NW")]
pub struct UnknownHolidayRegion(pub String);

/// One public holiday: its date and German name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Holiday {
    pub date: NaiveDate,
    pub name: &'static str,
}

impl HolidayRegion {
    pub const ALL: [HolidayRegion; 16] = [
        Self::BadenWuerttemberg,
        Self::Bayern,
        Self::Berlin,
        Self::Brandenburg,
        Self::Bremen,
        Self::Hamburg,
        Self::Hessen,
        Self::MecklenburgVorpommern,
        Self::Niedersachsen,
        Self::NordrheinWestfalen,
        Self::RheinlandPfalz,
        Self::Saarland,
        Self::Sachsen,
        Self::SachsenAnhalt,
        Self::SchleswigHolstein,
        Self::Thueringen,
    ];

    /// The ISO 3166-2 code, e.g. `DE-NW`.
    pub fn code(self) -> &'static str {
        match self {
            Self::BadenWuerttemberg => "DE-BW",
            Self::Bayern => "DE-BY",
            Self::Berlin => "DE-BE",
            Self::Brandenburg => "DE-BB",
            Self::Bremen => "DE-HB",
            Self::Hamburg => "DE-HH",
            Self::Hessen => "DE-HE",
            Self::MecklenburgVorpommern => "DE-MV",
            Self::Niedersachsen => "DE-NI",
            Self::NordrheinWestfalen => "DE-NW",
            Self::RheinlandPfalz => "DE-RP",
            Self::Saarland => "DE-SL",
            Self::Sachsen => "DE-SN",
            Self::SachsenAnhalt => "DE-ST",
            Self::SchleswigHolstein => "DE-SH",
            Self::Thueringen => "DE-TH",
        }
    }

    /// The state's German name, e.g. `Nordrhein-Westfalen`.
    pub fn name(self) -> &'static str {
        match self {
            Self::BadenWuerttemberg => "Baden-Württemberg",
            Self::Bayern => "Bayern",
            Self::Berlin => "Berlin",
            Self::Brandenburg => "Brandenburg",
            Self::Bremen => "Bremen",
            Self::Hamburg => "Hamburg",
            Self::Hessen => "Hessen",
            Self::MecklenburgVorpommern => "Mecklenburg-Vorpommern",
            Self::Niedersachsen => "Niedersachsen",
            Self::NordrheinWestfalen => "Nordrhein-Westfalen",
            Self::RheinlandPfalz => "Rheinland-Pfalz",
            Self::Saarland => "Saarland",
            Self::Sachsen => "Sachsen",
            Self::SachsenAnhalt => "Sachsen-Anhalt",
            Self::SchleswigHolstein => "Schleswig-Holstein",
            Self::Thueringen => "Thüringen",
        }
    }

    /// Parses an ISO 3166-2 code such as `DE-NW`, ignoring ASCII case.
    pub fn parse(input: &str) -> Result<Self, UnknownHolidayRegion> {
        Self::ALL
            .into_iter()
            .find(|region| region.code().eq_ignore_ascii_case(input))
            .ok_or_else(|| UnknownHolidayRegion(input.to_owned()))
    }

    /// The German name of the statewide public holiday on `date`, if there is one.
    /// On the rare day that is two holidays at once (Christi Himmelfahrt on 1 May,
    /// as in 2008), the one listed first in the table, Tag der Arbeit, is named.
    pub fn holiday(self, date: NaiveDate) -> Option<&'static str> {
        self.holidays(date.year())
            .find(|holiday| holiday.date == date)
            .map(|holiday| holiday.name)
    }

    /// The statewide public holidays of `year`, sorted by date. Two holidays on one
    /// day are both listed, in table order.
    pub fn holidays_in(self, year: i32) -> Vec<Holiday> {
        let mut holidays: Vec<Holiday> = self.holidays(year).collect();
        holidays.sort_by_key(|holiday| holiday.date); // stable: ties keep table order
        holidays
    }

    /// The holidays of `year` in table order. Years outside chrono's range yield
    /// only the holidays whose dates exist.
    fn holidays(self, year: i32) -> impl Iterator<Item = Holiday> {
        let easter = easter_sunday_checked(year);
        RULES
            .iter()
            .filter(move |rule| rule.regions.contains(&self) && rule.years.contain(year))
            .filter_map(move |rule| {
                let date = match rule.date {
                    DateRule::Fixed { month, day } => NaiveDate::from_ymd_opt(year, month, day),
                    DateRule::Easter(offset) => {
                        easter.and_then(|easter| easter.checked_add_signed(TimeDelta::try_days(offset)?))
                    }
                    DateRule::WednesdayBefore23November => wednesday_before_23_november(year),
                }?;
                Some(Holiday { date, name: rule.name })
            })
    }
}

impl fmt::Display for HolidayRegion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

string_conversions!(HolidayRegion, UnknownHolidayRegion);

/// Easter Sunday of `year` in the Gregorian calendar, by the anonymous Gregorian
/// algorithm (Meeus/Jones/Butcher), valid for every proleptic Gregorian year. Years
/// outside chrono's range (beyond ±262,000) saturate to `NaiveDate::MIN`/`MAX`.
pub fn easter_sunday(year: i32) -> NaiveDate {
    easter_sunday_checked(year).unwrap_or(if year < 0 { NaiveDate::MIN } else { NaiveDate::MAX })
}

fn easter_sunday_checked(year: i32) -> Option<NaiveDate> {
    // Euclidean division keeps the algorithm right for negative (proleptic) years;
    // i64 keeps every intermediate far from overflow for any i32 year.
    let y = i64::from(year);
    let a = y.rem_euclid(19);
    let b = y.div_euclid(100);
    let c = y.rem_euclid(100);
    let d = b.div_euclid(4);
    let e = b.rem_euclid(4);
    let f = (b + 8).div_euclid(25);
    let g = (b - f + 1).div_euclid(3);
    let h = (19 * a + b - d - g + 15).rem_euclid(30);
    let i = c / 4;
    let k = c % 4;
    let l = (32 + 2 * e + 2 * i - h - k).rem_euclid(7);
    let m = (a + 11 * h + 22 * l) / 451;
    let month = (h + l - 7 * m + 114) / 31;
    let day = (h + l - 7 * m + 114) % 31 + 1;
    NaiveDate::from_ymd_opt(year, u32::try_from(month).ok()?, u32::try_from(day).ok()?)
}

/// Buß- und Bettag: the last Wednesday before 23 November (16–22 November).
fn wednesday_before_23_november(year: i32) -> Option<NaiveDate> {
    let nov_22 = NaiveDate::from_ymd_opt(year, 11, 22)?;
    let back = (nov_22.weekday().num_days_from_monday() + 7 - Weekday::Wed.num_days_from_monday()) % 7;
    nov_22.checked_sub_days(Days::new(u64::from(back)))
}

/// How a holiday's date is found in a given year.
#[derive(Debug, Clone, Copy)]
enum DateRule {
    Fixed {
        month: u32,
        day: u32,
    },
    /// Days after (negative: before) Easter Sunday.
    Easter(i64),
    WednesdayBefore23November,
}

/// The years a rule applies in.
#[derive(Debug, Clone, Copy)]
enum Years {
    Always,
    Since(i32),
    Only(i32),
}

impl Years {
    fn contain(self, year: i32) -> bool {
        match self {
            Self::Always => true,
            Self::Since(first) => year >= first,
            Self::Only(only) => year == only,
        }
    }
}

struct Rule {
    name: &'static str,
    date: DateRule,
    regions: &'static [HolidayRegion],
    years: Years,
}

use HolidayRegion::{
    BadenWuerttemberg as BW, Bayern as BY, Berlin as BE, Brandenburg as BB, Bremen as HB, Hamburg as HH, Hessen as HE,
    MecklenburgVorpommern as MV, Niedersachsen as NI, NordrheinWestfalen as NW, RheinlandPfalz as RP, Saarland as SL,
    Sachsen as SN, SachsenAnhalt as ST, SchleswigHolstein as SH, Thueringen as TH,
};

const NATIONWIDE: &[HolidayRegion] = &HolidayRegion::ALL;

const fn fixed(month: u32, day: u32) -> DateRule {
    DateRule::Fixed { month, day }
}

const fn rule(name: &'static str, date: DateRule, regions: &'static [HolidayRegion], years: Years) -> Rule {
    Rule {
        name,
        date,
        regions,
        years,
    }
}

/// Every statewide holiday, in calendar order of a typical year (which decides the
/// name `holiday()` gives a day that is two holidays). A holiday whose states differ
/// by year has one row per group, with disjoint states, so no state gets it twice.
#[rustfmt::skip]
const RULES: &[Rule] = &[
    rule("Neujahr", fixed(1, 1), NATIONWIDE, Years::Always),
    rule("Heilige Drei Könige", fixed(1, 6), &[BW, BY, ST], Years::Always),
    // Berlin made it a holiday in 2019, Mecklenburg-Vorpommern in 2023.
    rule("Internationaler Frauentag", fixed(3, 8), &[BE], Years::Since(2019)),
    rule("Internationaler Frauentag", fixed(3, 8), &[MV], Years::Since(2023)),
    rule("Karfreitag", DateRule::Easter(-2), NATIONWIDE, Years::Always),
    // A Sunday anyway, but Brandenburg's law names it, so list it there.
    rule("Ostersonntag", DateRule::Easter(0), &[BB], Years::Always),
    rule("Ostermontag", DateRule::Easter(1), NATIONWIDE, Years::Always),
    rule("Tag der Arbeit", fixed(5, 1), NATIONWIDE, Years::Always),
    // One-off in Berlin for the 75th and 80th anniversaries of the end of the war.
    rule("Tag der Befreiung", fixed(5, 8), &[BE], Years::Only(2020)),
    rule("Tag der Befreiung", fixed(5, 8), &[BE], Years::Only(2025)),
    rule("Christi Himmelfahrt", DateRule::Easter(39), NATIONWIDE, Years::Always),
    rule("Pfingstsonntag", DateRule::Easter(49), &[BB], Years::Always),
    rule("Pfingstmontag", DateRule::Easter(50), NATIONWIDE, Years::Always),
    rule("Fronleichnam", DateRule::Easter(60), &[BW, BY, HE, NW, RP, SL], Years::Always),
    rule("Mariä Himmelfahrt", fixed(8, 15), &[SL], Years::Always),
    // Thüringen's own holiday since 2019.
    rule("Weltkindertag", fixed(9, 20), &[TH], Years::Since(2019)),
    rule("Tag der Deutschen Einheit", fixed(10, 3), NATIONWIDE, Years::Always),
    // The eastern states have kept it since reunification; the four northern states
    // adopted it in 2018; in 2017 (500 years of the Reformation) every state kept it.
    rule("Reformationstag", fixed(10, 31), &[BB, MV, SN, ST, TH], Years::Always),
    rule("Reformationstag", fixed(10, 31), &[HB, HH, NI, SH], Years::Since(2018)),
    rule("Reformationstag", fixed(10, 31), &[BW, BY, BE, HB, HH, HE, NI, NW, RP, SL, SH], Years::Only(2017)),
    rule("Allerheiligen", fixed(11, 1), &[BW, BY, NW, RP, SL], Years::Always),
    // Nationwide until 1994; only Sachsen kept it.
    rule("Buß- und Bettag", DateRule::WednesdayBefore23November, &[SN], Years::Always),
    rule("1. Weihnachtstag", fixed(12, 25), NATIONWIDE, Years::Always),
    rule("2. Weihnachtstag", fixed(12, 26), NATIONWIDE, Years::Always),
];

#[cfg(test)]
mod tests {
    use super::*;

    fn ymd(year: i32, month: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(year, month, day).unwrap()
    }

    #[test]
    fn easter_sunday_matches_known_dates() {
        let known = [
            (1818, 3, 22), // earliest possible
            (1943, 4, 25), // latest possible
            (2000, 4, 23),
            (2008, 3, 23),
            (2011, 4, 24),
            (2016, 3, 27),
            (2019, 4, 21),
            (2024, 3, 31),
            (2025, 4, 20),
            (2026, 4, 5),
            (2027, 3, 28),
            (2028, 4, 16),
            (2029, 4, 1),
            (2030, 4, 21),
            (2038, 4, 25),
            (2285, 3, 22),
        ];
        for (year, month, day) in known {
            assert_eq!(easter_sunday(year), ymd(year, month, day), "Easter {year}");
        }
    }

    #[test]
    fn easter_sunday_is_always_a_sunday_between_22_march_and_25_april() {
        for year in -500..=3000 {
            let easter = easter_sunday(year);
            assert_eq!(easter.weekday(), Weekday::Sun, "{year}");
            assert!(
                easter >= ymd(year, 3, 22) && easter <= ymd(year, 4, 25),
                "{year}: {easter}"
            );
        }
    }

    #[test]
    fn easter_sunday_saturates_outside_chronos_range() {
        assert_eq!(easter_sunday(i32::MAX), NaiveDate::MAX);
        assert_eq!(easter_sunday(i32::MIN), NaiveDate::MIN);
        assert!(HolidayRegion::Berlin.holidays_in(i32::MAX).is_empty());
    }

    /// Literal dates from the official calendar, one row per holiday, 2026–2030.
    #[test]
    fn nordrhein_westfalen_2026_to_2030_by_hand() {
        let names = [
            "Neujahr",
            "Karfreitag",
            "Ostermontag",
            "Tag der Arbeit",
            "Christi Himmelfahrt",
            "Pfingstmontag",
            "Fronleichnam",
            "Tag der Deutschen Einheit",
            "Allerheiligen",
            "1. Weihnachtstag",
            "2. Weihnachtstag",
        ];
        let by_year: [(i32, [(u32, u32); 11]); 5] = [
            (
                2026,
                [
                    (1, 1),
                    (4, 3),
                    (4, 6),
                    (5, 1),
                    (5, 14),
                    (5, 25),
                    (6, 4),
                    (10, 3),
                    (11, 1),
                    (12, 25),
                    (12, 26),
                ],
            ),
            (
                2027,
                [
                    (1, 1),
                    (3, 26),
                    (3, 29),
                    (5, 1),
                    (5, 6),
                    (5, 17),
                    (5, 27),
                    (10, 3),
                    (11, 1),
                    (12, 25),
                    (12, 26),
                ],
            ),
            (
                2028,
                [
                    (1, 1),
                    (4, 14),
                    (4, 17),
                    (5, 1),
                    (5, 25),
                    (6, 5),
                    (6, 15),
                    (10, 3),
                    (11, 1),
                    (12, 25),
                    (12, 26),
                ],
            ),
            (
                2029,
                [
                    (1, 1),
                    (3, 30),
                    (4, 2),
                    (5, 1),
                    (5, 10),
                    (5, 21),
                    (5, 31),
                    (10, 3),
                    (11, 1),
                    (12, 25),
                    (12, 26),
                ],
            ),
            (
                2030,
                [
                    (1, 1),
                    (4, 19),
                    (4, 22),
                    (5, 1),
                    (5, 30),
                    (6, 10),
                    (6, 20),
                    (10, 3),
                    (11, 1),
                    (12, 25),
                    (12, 26),
                ],
            ),
        ];
        for (year, dates) in by_year {
            let expected: Vec<Holiday> = dates
                .iter()
                .zip(names)
                .map(|(&(month, day), name)| Holiday {
                    date: ymd(year, month, day),
                    name,
                })
                .collect();
            assert_eq!(
                HolidayRegion::NordrheinWestfalen.holidays_in(year),
                expected,
                "NW {year}"
            );
        }
    }

    #[test]
    fn holiday_counts_per_state_in_2026() {
        use HolidayRegion::*;
        let counts = [
            (BadenWuerttemberg, 12),
            (Bayern, 12),
            (Berlin, 10),
            (Brandenburg, 12),
            (Bremen, 10),
            (Hamburg, 10),
            (Hessen, 10),
            (MecklenburgVorpommern, 11),
            (Niedersachsen, 10),
            (NordrheinWestfalen, 11),
            (RheinlandPfalz, 11),
            (Saarland, 12),
            (Sachsen, 11),
            (SachsenAnhalt, 11),
            (SchleswigHolstein, 10),
            (Thueringen, 11),
        ];
        for (region, count) in counts {
            assert_eq!(region.holidays_in(2026).len(), count, "{region}");
        }
    }

    #[test]
    fn spot_checks_for_other_states() {
        use HolidayRegion::*;
        let cases = [
            (Sachsen, ymd(2026, 11, 18), Some("Buß- und Bettag")),
            (Sachsen, ymd(2022, 11, 16), Some("Buß- und Bettag")), // 23 Nov a Wednesday
            (Sachsen, ymd(2023, 11, 22), Some("Buß- und Bettag")), // 22 Nov a Wednesday
            (SachsenAnhalt, ymd(2026, 11, 18), None),
            (Niedersachsen, ymd(2026, 10, 31), Some("Reformationstag")),
            (Niedersachsen, ymd(2017, 10, 31), Some("Reformationstag")),
            (Niedersachsen, ymd(2016, 10, 31), None),
            (NordrheinWestfalen, ymd(2017, 10, 31), Some("Reformationstag")),
            (NordrheinWestfalen, ymd(2018, 10, 31), None),
            (Brandenburg, ymd(2016, 10, 31), Some("Reformationstag")),
            (Berlin, ymd(2026, 3, 8), Some("Internationaler Frauentag")),
            (Berlin, ymd(2018, 3, 8), None),
            (
                MecklenburgVorpommern,
                ymd(2023, 3, 8),
                Some("Internationaler Frauentag"),
            ),
            (MecklenburgVorpommern, ymd(2022, 3, 8), None),
            (Berlin, ymd(2020, 5, 8), Some("Tag der Befreiung")),
            (Berlin, ymd(2025, 5, 8), Some("Tag der Befreiung")),
            (Berlin, ymd(2026, 5, 8), None),
            (Thueringen, ymd(2026, 9, 20), Some("Weltkindertag")),
            (Thueringen, ymd(2018, 9, 20), None),
            (Saarland, ymd(2026, 8, 15), Some("Mariä Himmelfahrt")),
            (NordrheinWestfalen, ymd(2026, 8, 15), None),
            (Bayern, ymd(2026, 8, 15), None),
            (Brandenburg, ymd(2026, 4, 5), Some("Ostersonntag")),
            (Brandenburg, ymd(2026, 5, 24), Some("Pfingstsonntag")),
            (Berlin, ymd(2026, 4, 5), None),
            (SachsenAnhalt, ymd(2026, 1, 6), Some("Heilige Drei Könige")),
            (Sachsen, ymd(2026, 6, 4), None), // Fronleichnam only in some municipalities
            (Hessen, ymd(2026, 6, 4), Some("Fronleichnam")),
        ];
        for (region, date, expected) in cases {
            assert_eq!(region.holiday(date), expected, "{region} {date}");
        }
    }

    #[test]
    fn holiday_is_none_on_an_ordinary_working_day() {
        for region in HolidayRegion::ALL {
            assert_eq!(region.holiday(ymd(2026, 6, 3)), None, "{region}");
        }
    }

    #[test]
    fn two_holidays_on_one_day_are_both_listed() {
        let may_first: Vec<_> = HolidayRegion::Hamburg
            .holidays_in(2008)
            .into_iter()
            .filter(|holiday| holiday.date == ymd(2008, 5, 1))
            .map(|holiday| holiday.name)
            .collect();
        assert_eq!(may_first, ["Tag der Arbeit", "Christi Himmelfahrt"]);
        assert_eq!(HolidayRegion::Hamburg.holiday(ymd(2008, 5, 1)), Some("Tag der Arbeit"));
    }

    #[test]
    fn holidays_in_agrees_with_holiday_and_is_sorted_without_duplicates() {
        for region in HolidayRegion::ALL {
            for year in 1995..=2100 {
                let holidays = region.holidays_in(year);
                assert!(
                    holidays.windows(2).all(|pair| pair[0].date <= pair[1].date),
                    "{region} {year}"
                );
                for (index, holiday) in holidays.iter().enumerate() {
                    assert_eq!(holiday.date.year(), year);
                    assert!(region.holiday(holiday.date).is_some(), "{region} {}", holiday.date);
                    let same_name = holidays.iter().filter(|other| other.name == holiday.name).count();
                    assert_eq!(same_name, 1, "{region} {year}: {} twice (index {index})", holiday.name);
                }
            }
        }
    }

    #[test]
    fn codes_and_names() {
        assert_eq!(HolidayRegion::NordrheinWestfalen.code(), "DE-NW");
        assert_eq!(HolidayRegion::NordrheinWestfalen.name(), "Nordrhein-Westfalen");
        assert_eq!(HolidayRegion::Thueringen.name(), "Thüringen");
        assert_eq!(HolidayRegion::BadenWuerttemberg.to_string(), "DE-BW");
        let mut codes: Vec<_> = HolidayRegion::ALL.iter().map(|region| region.code()).collect();
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), 16);
        for region in HolidayRegion::ALL {
            assert_eq!(region.code().parse::<HolidayRegion>(), Ok(region));
        }
    }

    #[test]
    fn parses_codes_ignoring_case() {
        assert_eq!("DE-NW".parse(), Ok(HolidayRegion::NordrheinWestfalen));
        assert_eq!("de-nw".parse(), Ok(HolidayRegion::NordrheinWestfalen));
        assert_eq!("De-Sn".parse(), Ok(HolidayRegion::Sachsen));
        assert_eq!(HolidayRegion::try_from("de-by"), Ok(HolidayRegion::Bayern));
    }

    #[test]
    fn rejects_unknown_codes() {
        for input in ["DE-XX", "NW", "", " DE-NW", "AT-9"] {
            assert_eq!(
                input.parse::<HolidayRegion>(),
                Err(UnknownHolidayRegion(input.to_owned()))
            );
        }
        assert_eq!(
            "DE-XX".parse::<HolidayRegion>().unwrap_err().to_string(),
            "unknown holiday region \"DE-XX\": expected a German state code such as DE-NW"
        );
    }

    #[test]
    fn serde_uses_the_code_string() {
        let json = serde_json::to_string(&HolidayRegion::NordrheinWestfalen).unwrap();
        assert_eq!(json, "\"DE-NW\"");
        assert_eq!(
            serde_json::from_str::<HolidayRegion>(&json).unwrap(),
            HolidayRegion::NordrheinWestfalen
        );
        assert_eq!(
            serde_json::from_str::<HolidayRegion>("\"de-nw\"").unwrap(),
            HolidayRegion::NordrheinWestfalen
        );
        for region in HolidayRegion::ALL {
            let json = serde_json::to_string(&region).unwrap();
            assert_eq!(serde_json::from_str::<HolidayRegion>(&json).unwrap(), region);
        }
        let error = serde_json::from_str::<HolidayRegion>("\"DE-XX\"").unwrap_err();
        assert!(error.to_string().contains("unknown holiday region"), "{error}");
    }
}
