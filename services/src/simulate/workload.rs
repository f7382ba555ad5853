//! The synthetic city: Düsseldorf's eleven Bürgerbüros, their services and
//! opening hours, and the seeded random choices of the citizens (when they
//! come, what they want, how they answer). Pure: no I/O, all randomness from
//! one seeded generator, so a seed names one year.

use chrono::{Datelike, NaiveDate, Weekday};
use rand::Rng;
use rand::rngs::StdRng;
use terminagent_domain::{LocalTime, OpeningHours, OpeningHoursError, OpeningInterval};

/// (slug, name, base lanes): lanes at full scale, so that the year's
/// capacity is about the ~550,000 visits 700,000 contacts lead to.
pub const OFFICES: [(&str, &str, u32); 11] = [
    ("mitte", "Bürgerbüro Mitte", 9),
    ("benrath", "Bürgerbüro Benrath", 5),
    ("bilk", "Bürgerbüro Bilk", 5),
    ("eller", "Bürgerbüro Eller", 4),
    ("garath", "Bürgerbüro Garath", 3),
    ("gerresheim", "Bürgerbüro Gerresheim", 5),
    ("kaiserswerth", "Bürgerbüro Kaiserswerth", 3),
    ("oberkassel", "Bürgerbüro Oberkassel", 5),
    ("rath", "Bürgerbüro Rath", 4),
    ("unterrath", "Bürgerbüro Unterrath", 4),
    ("wersten", "Bürgerbüro Wersten", 4),
];

/// (slug, name, minutes, walk-in at the kiosk, weight among requests).
pub const SERVICES: [(&str, &str, u32, bool, u32); 8] = [
    ("personalausweis", "Personalausweis", 12, false, 30),
    ("reisepass", "Reisepass", 12, false, 20),
    ("kinderreisepass", "Kinderreisepass", 12, false, 6),
    ("anmeldung", "An-/Ummeldung", 12, false, 24),
    ("fuehrerschein", "Führerschein", 24, false, 6),
    ("fuehrungszeugnis", "Führungszeugnis", 12, false, 6),
    ("meldebescheinigung", "Meldebescheinigung", 12, true, 5),
    ("beglaubigung", "Beglaubigung", 12, true, 3),
];

pub const UNIT_MINUTES: u32 = 12;

/// Düsseldorf's figures for a whole year at all eleven offices.
pub const YEAR_CONTACTS: f64 = 700_000.0;
pub const YEAR_WISHES: f64 = 300_000.0;
/// Share of contacts that are walk-ins at the kiosk.
pub const WALK_IN_SHARE: f64 = 0.15;
/// Online contacts (bookings, wishes) come at weekends too, at this rate.
const WEEKEND_WEIGHT: f64 = 0.25;
/// Sum of the day weights of a week (5 weekdays + 2 weekend days).
const WEEK_WEIGHT: f64 = 5.0 + 2.0 * WEEKEND_WEIGHT;

/// How citizens behave (shares of 1).
#[derive(Debug, Clone, Copy)]
pub struct Behaviour {
    pub confirm: f64,
    pub cancel: f64,
    pub no_show: f64,
    pub walk_in_no_show: f64,
    pub accept: f64,
    pub decline: f64,
    pub end_wish: f64,
    /// Presses the confirm link of a wish's confirm-request mail in time.
    pub confirm_wish: f64,
    pub duplicate_wish: f64,
    pub wish_until: f64,
}

impl Default for Behaviour {
    fn default() -> Self {
        // Düsseldorf: ~30 % of proposals declined or expired; Berlin ~15-17 %
        // no-shows; Leichlingen: bookings confirmed by mail or they lapse.
        Behaviour {
            confirm: 0.95,
            cancel: 0.08,
            no_show: 0.15,
            walk_in_no_show: 0.03,
            accept: 0.70,
            decline: 0.17,
            end_wish: 0.05,
            confirm_wish: 0.9,
            duplicate_wish: 0.01,
            wish_until: 0.7,
        }
    }
}

/// The week's opening hours of an office: 08–16 on weekdays, Thursdays
/// until 18 ("Dienstleistungsdonnerstag").
pub fn opening_hours() -> Result<OpeningHours, OpeningHoursError> {
    let at = |hour| LocalTime::from_hm(hour, 0).expect("a valid hour");
    let day = |weekday: Weekday| {
        let until = if weekday == Weekday::Thu { 18 } else { 16 };
        Ok((weekday, vec![OpeningInterval::new(at(8), at(until))?]))
    };
    OpeningHours::new([
        day(Weekday::Mon)?,
        day(Weekday::Tue)?,
        day(Weekday::Wed)?,
        day(Weekday::Thu)?,
        day(Weekday::Fri)?,
    ])
}

/// Contacts of one day, before the day's random rounding.
#[derive(Debug, Clone, Copy, Default)]
pub struct DayRates {
    pub bookings: f64,
    pub wishes: f64,
    pub walk_ins: f64,
}

/// Yearly volumes for the offices simulated, turned into rates per day.
#[derive(Debug, Clone, Copy)]
pub struct Volumes {
    pub contacts_per_year: f64,
    pub wishes_per_year: f64,
}

impl Volumes {
    pub fn rates(&self, date: NaiveDate, open: bool) -> DayRates {
        let weekend = matches!(date.weekday(), Weekday::Sat | Weekday::Sun);
        let weight = if weekend { WEEKEND_WEIGHT } else { 1.0 };
        let weeks = 365.0 / 7.0;
        let walk_ins_per_year = self.contacts_per_year * WALK_IN_SHARE;
        let online = (self.contacts_per_year - self.wishes_per_year - walk_ins_per_year).max(0.0);
        DayRates {
            bookings: online / weeks / WEEK_WEIGHT * weight,
            wishes: self.wishes_per_year / weeks / WEEK_WEIGHT * weight,
            // Walk-ins only where the doors are open (about 250 days).
            walk_ins: if open { walk_ins_per_year / 250.0 } else { 0.0 },
        }
    }
}

/// `value` rounded up or down at random, so fractions add up over days.
pub fn round_randomly(rng: &mut StdRng, value: f64) -> u32 {
    let whole = value.floor();
    let extra = rng.gen_bool((value - whole).clamp(0.0, 1.0));
    whole as u32 + u32::from(extra)
}

/// An index by weight.
pub fn pick_weighted(rng: &mut StdRng, weights: &[u32]) -> usize {
    let total: u32 = weights.iter().sum();
    let mut ticket = rng.gen_range(0..total.max(1));
    for (index, weight) in weights.iter().enumerate() {
        if ticket < *weight {
            return index;
        }
        ticket -= weight;
    }
    weights.len() - 1
}

/// Indices of the services asked for: one, sometimes two (a booking of
/// several services takes their summed time). Walk-in services only when
/// `walk_in`.
pub fn pick_services(rng: &mut StdRng, walk_in: bool) -> Vec<usize> {
    let weights: Vec<u32> = SERVICES
        .iter()
        .map(|&(_, _, _, kiosk, weight)| if kiosk == walk_in { weight } else { 0 })
        .collect();
    let first = pick_weighted(rng, &weights);
    let mut services = vec![first];
    if !walk_in && rng.gen_bool(0.15) {
        let second = pick_weighted(rng, &weights);
        if second != first {
            services.push(second);
        }
    }
    services.sort_unstable();
    services
}

/// A wish's shape: offices (indices), weekday × hour windows, days until
/// its last date (`None`: open-ended).
#[derive(Debug, Clone)]
pub struct WishShape {
    pub offices: Vec<usize>,
    pub windows: Vec<(Weekday, u32)>,
    pub until_days: Option<u64>,
}

pub fn wish_shape(rng: &mut StdRng, office_weights: &[u32], behaviour: &Behaviour) -> WishShape {
    let count = rng.gen_range(1..=office_weights.len().min(4));
    let mut offices = Vec::with_capacity(count);
    let mut weights = office_weights.to_vec();
    for _ in 0..count {
        let office = pick_weighted(rng, &weights);
        weights[office] = 0;
        offices.push(office);
        if weights.iter().all(|weight| *weight == 0) {
            break;
        }
    }
    offices.sort_unstable();
    // Several weekdays, on each a block of one to three hours (e.g. Mon–Thu
    // 08–09, Fri 12–13), as the Düsseldorf form asks.
    let weekdays = [Weekday::Mon, Weekday::Tue, Weekday::Wed, Weekday::Thu, Weekday::Fri];
    let mut windows = Vec::new();
    let days = rng.gen_range(2..=5);
    let first_day = rng.gen_range(0..=5 - days);
    let hours = rng.gen_range(1..=3);
    let from = rng.gen_range(8..=16 - hours);
    for weekday in &weekdays[first_day..first_day + days] {
        let (weekday, from) = if rng.gen_bool(0.2) {
            (*weekday, rng.gen_range(8..=16 - hours))
        } else {
            (*weekday, from)
        };
        windows.extend((from..from + hours).map(|hour| (weekday, hour)));
    }
    let until_days = rng.gen_bool(behaviour.wish_until).then(|| rng.gen_range(14..=70));
    WishShape {
        offices,
        windows,
        until_days,
    }
}
