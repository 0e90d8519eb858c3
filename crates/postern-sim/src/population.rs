//! The normal population: senders modelled on real patterns, as a list of timed events.
//!
//! In: a seeded random source and the run's length. Out: every message (and every delivery
//! failure fed back later) of every normal sender, unsorted. Three kinds of sender:
//! - office (80 %): 5 to 60 messages a working day, 8:00 to 18:00 with some evenings,
//!   a tenth of that at weekends; replies to known contacts (a few favourites most of the
//!   time), 12 % to someone new; now and then a mail to a team of 15 to 40; a holiday of 2
//!   to 5 days for 15 % of them in the measured period, then a day of catching up at twice
//!   the rate;
//! - newsletter (10 %): office mail at a lower rate, and once a week a newsletter to 1,500
//!   to 4,000 subscribers, one message each (one every 1.5 s), scoring higher than office
//!   mail, with 1.5 % of addresses bouncing;
//! - outreach (10 %: sales, support): 30 to 80 messages a day, 40 % to new people.
//!
//! For everyone: 3 % of messages are sent again 1 to 5 minutes later (a client retrying
//! after a network error); 2 % of new addresses bounce (a failure 1 to 10 minutes later);
//! a day away from the usual networks (travel) 3 % of days.

use rand::Rng;
use rand::rngs::StdRng;

use crate::{DAY, Event, EventKind, HOUR, MINUTE, Message, normal};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SenderKind {
    Office,
    Newsletter,
    Outreach,
}

/// What the attacks need to know of a sender.
pub struct Sender {
    pub kind: SenderKind,
    pub contacts: Vec<(u64, u64)>,
    pub networks: [u64; 2],
}

/// Sends a sender's mail: contacts grow as new people are written to.
struct Writer<'a> {
    rng: &'a mut StdRng,
    sender: u32,
    events: &'a mut Vec<Event>,
    next_id: &'a mut u32,
}

impl Writer<'_> {
    fn id(&mut self) -> u32 {
        *self.next_id += 1;
        *self.next_id
    }

    /// One message; a retry and failures as the module documentation says.
    fn send(&mut self, t: i64, recipients: Vec<(u64, u64)>, new: usize, network: u64, score: f32, bounce: f64) {
        let id = self.id();
        let failures = (0..new).filter(|_| self.rng.random_bool(bounce)).count() as u32;
        if failures > 0 {
            let at = t + self.rng.random_range(MINUTE..10 * MINUTE);
            self.events.push(Event {
                t: at,
                sender: self.sender,
                kind: EventKind::Failure { message: id, identity: 0, n: failures },
            });
        }
        let message = Message {
            identity: 0,
            id,
            recipients: recipients.iter().map(|r| r.0).collect(),
            domains: dedup(recipients.iter().map(|r| r.1).collect()),
            network,
            score,
            attack: None,
        };
        if self.rng.random_bool(0.03) {
            let again = Message { id: self.id(), ..message.clone() };
            let at = t + self.rng.random_range(MINUTE..5 * MINUTE);
            self.events.push(Event { t: at, sender: self.sender, kind: EventKind::Message(again) });
        }
        self.events.push(Event { t, sender: self.sender, kind: EventKind::Message(message) });
    }
}

pub(crate) fn dedup(mut v: Vec<u64>) -> Vec<u64> {
    v.sort_unstable();
    v.dedup();
    v
}

/// Builds `senders` normal senders over `days` days (measured from `measured_from`), and
/// appends their events.
pub fn generate(
    rng: &mut StdRng,
    senders: usize,
    days: i64,
    measured_from: i64,
    events: &mut Vec<Event>,
    next_id: &mut u32,
) -> Vec<Sender> {
    let mut out = Vec::with_capacity(senders);
    for s in 0..senders {
        let roll = rng.random::<f64>();
        let kind = if roll < 0.8 {
            SenderKind::Office
        } else if roll < 0.9 {
            SenderKind::Newsletter
        } else {
            SenderKind::Outreach
        };
        let own_domains: Vec<u64> = (0..rng.random_range(4..12)).map(|_| rng.random()).collect();
        let contacts: Vec<(u64, u64)> = (0..rng.random_range(20..150))
            .map(|_| (rng.random(), own_domains[rng.random_range(0..own_domains.len())]))
            .collect();
        let networks = [rng.random(), rng.random()];
        let mut sender = Sender { kind, contacts, networks };
        let mut writer = Writer { rng, sender: s as u32, events, next_id };
        write_mail(&mut writer, &mut sender, &own_domains, days, measured_from);
        out.push(sender);
    }
    out
}

fn write_mail(w: &mut Writer<'_>, sender: &mut Sender, own_domains: &[u64], days: i64, measured_from: i64) {
    let (rate, new_share) = match sender.kind {
        SenderKind::Office => (w.rng.random_range(5.0..60.0), 0.12),
        SenderKind::Newsletter => (w.rng.random_range(5.0..20.0), 0.12),
        SenderKind::Outreach => (w.rng.random_range(30.0..80.0), 0.4),
    };
    let holiday = (w.rng.random_bool(0.15) && days > measured_from / DAY).then(|| {
        let start = w.rng.random_range(measured_from / DAY..days);
        (start, start + w.rng.random_range(2..=5))
    });
    let newsletter = (sender.kind == SenderKind::Newsletter).then(|| {
        let subscribers: Vec<(u64, u64)> = (0..w.rng.random_range(1500..4000))
            .map(|_| (w.rng.random(), u64::from(w.rng.random_range(0u32..500))))
            .collect();
        (subscribers, w.rng.random_range(1..4i64), w.rng.random_range(10..15i64))
    });
    let (mut subscribers, news_day, news_hour) = newsletter.unwrap_or((Vec::new(), -1, 0));
    for day in 0..days {
        if holiday.is_some_and(|(from, to)| day >= from && day < to) {
            continue;
        }
        let weekday = day % 7;
        let mut today = if weekday >= 5 { rate * 0.1 } else { rate };
        if holiday.is_some_and(|(_, to)| day == to) {
            today *= 2.0;
        }
        let travel = w.rng.random_bool(0.03).then(|| w.rng.random::<u64>());
        let n = normal(w.rng, today, today.sqrt()).round().max(0.0) as usize;
        for _ in 0..n {
            let evening = w.rng.random_bool(0.1);
            let minute =
                if evening { w.rng.random_range(18 * 60..23 * 60) } else { w.rng.random_range(8 * 60..18 * 60) };
            let t = day * DAY + minute * MINUTE + w.rng.random_range(0..MINUTE);
            let network = travel.unwrap_or(sender.networks[usize::from(evening || w.rng.random_bool(0.2))]);
            let count = match w.rng.random::<f64>() {
                x if x < 0.70 => 1,
                x if x < 0.92 => w.rng.random_range(2..=4),
                x if x < 0.98 => w.rng.random_range(5..=12),
                _ => w.rng.random_range(15..=40),
            };
            let mut recipients = Vec::with_capacity(count);
            let mut new = 0;
            for _ in 0..count {
                if w.rng.random_bool(new_share) {
                    let domain = if w.rng.random_bool(0.5) {
                        own_domains[w.rng.random_range(0..own_domains.len())]
                    } else {
                        w.rng.random()
                    };
                    let contact = (w.rng.random(), domain);
                    if sender.contacts.len() < 400 {
                        sender.contacts.push(contact);
                    }
                    recipients.push(contact);
                    new += 1;
                } else {
                    let u: f64 = w.rng.random();
                    let index = ((sender.contacts.len() as f64) * u * u) as usize;
                    recipients.push(sender.contacts[index.min(sender.contacts.len() - 1)]);
                }
            }
            let score = normal(w.rng, 1.0, 1.0).max(0.0) as f32;
            w.send(t, recipients, new, network, score, 0.02);
        }
        if weekday == news_day {
            for s in subscribers.iter_mut() {
                if w.rng.random_bool(0.02) {
                    *s = (w.rng.random(), u64::from(w.rng.random_range(0u32..500)));
                }
            }
            let start = day * DAY + news_hour * HOUR;
            for (i, &subscriber) in subscribers.iter().enumerate() {
                let score = normal(w.rng, 2.5, 0.8).max(0.0) as f32;
                w.send(start + i as i64 * 1500, vec![subscriber], 1, sender.networks[0], score, 0.015);
            }
        }
    }
}
