//! Waiting-room tests. A text scenario walks one sale through the whole story —
//! pre-queue, refreshes, the draw, late arrivals, admission capped by the unsold
//! places and by the checkout maximum, windows running out, the brake, sold out —
//! with the transcript held as an inline `expect!` snapshot. Named tests pin the
//! promises made to fans one by one. Property tests throw random command sequences
//! at a small, crowded room and prove that the invariants hold after every command,
//! that an independently written reference model agrees on every reply's code and
//! on every fan's place, and that replaying the commands rebuilds an equal room.
//! Every step of every test runs `check_invariants()`.
//!
//! The scenario language, one statement a line (`#` starts a comment):
//!
//! ```text
//! room prequeue 13:00:00 opens 14:00:00 window 300s active 3 entries 100   # first line
//! at 13:00:00 join anna | join emil id anna    # emil tries anna's queue id
//! draw cleo anna bert | draw 2 0 1             # names or entry indexes, first rank first
//! admit 10 unsold 6 | finish anna | tick | soldout
//! pause "message" [until 14:30:00] | resume
//! show anna bert | show room
//! ```

use std::collections::{BTreeMap, BTreeSet};

use expect_test::{Expect, expect};
use proptest::prelude::*;
use proptest::test_runner::Config;
use sturmfest_core::TimeMs;
use sturmfest_core::queue::limits::{admit_count_max, pause_message_bytes_max, room_entries_max};
use sturmfest_core::queue::*;

fn digest(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
}

fn identity(name: &str) -> IdentityKey {
    IdentityKey(u128::from(digest(name)) << 64 | 1)
}

fn queue_id(name: &str) -> QueueId {
    let d = digest(name).to_be_bytes();
    let mut id = [0u8; 16];
    id[..8].copy_from_slice(&d);
    id[8..].copy_from_slice(&d);
    QueueId(id)
}

/// Applies one command and checks every invariant afterwards.
fn apply(room: &mut WaitingRoom, at: i64, command: RoomCommand) -> RoomOutcome {
    let outcome = room.apply(&RoomEnvelope { time: TimeMs(at), command });
    room.check_invariants();
    outcome
}

fn join(room: &mut WaitingRoom, at: i64, name: &str) -> RoomOutcome {
    apply(room, at, RoomCommand::Join { identity: identity(name), queue_id: queue_id(name) })
}

fn code(outcome: &RoomOutcome) -> &'static str {
    match outcome {
        Ok(_) => "ok",
        Err(rejection) => rejection.code(),
    }
}

// ----- the scenario -----

fn check(script: &str, expect: Expect) {
    let mut runner: Option<Runner> = None;
    for line in script.lines() {
        let line = line.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        match runner.as_mut() {
            None => runner = Some(Runner::new(line)),
            Some(runner) => runner.run_line(line),
        }
    }
    let runner = runner.expect("a script starts with `room ...`");
    // The same commands into a fresh room rebuild it exactly.
    let mut replayed = WaitingRoom::new(runner.room.config().clone()).expect("config");
    for (envelope, outcome) in &runner.log {
        assert_eq!(&replayed.apply(envelope), outcome, "replay decides the same");
    }
    assert_eq!(replayed, runner.room, "replay rebuilds the room");
    expect.assert_eq(&runner.out);
}

struct Runner {
    room: WaitingRoom,
    now: i64,
    /// Entry index by name, in join order, as the room assigns them.
    entries: BTreeMap<String, u32>,
    log: Vec<(RoomEnvelope, RoomOutcome)>,
    out: String,
}

impl Runner {
    fn new(line: &str) -> Runner {
        let w = words(line);
        assert_eq!(w[0], "room", "the first statement is `room prequeue T opens T window Ns active N entries N`");
        let value = |key: &str| &w[w.iter().position(|x| x == key).expect(key) + 1];
        let config = RoomConfig {
            prequeue_opens_at: TimeMs(parse_time(value("prequeue"))),
            opens_at: TimeMs(parse_time(value("opens"))),
            checkout_window_ms: value("window").trim_end_matches('s').parse::<i64>().expect("seconds") * 1000,
            admitted_active_max: value("active").parse().expect("active"),
            entries_max: value("entries").parse().expect("entries"),
        };
        Runner {
            room: WaitingRoom::new(config).expect("scenario config"),
            now: 0,
            entries: BTreeMap::new(),
            log: Vec::new(),
            out: String::new(),
        }
    }

    fn run_line(&mut self, line: &str) {
        let mut rest = line;
        if let Some(after) = rest.strip_prefix("at ") {
            let (time, tail) = after.split_once(' ').unwrap_or((after, ""));
            self.now = parse_time(time);
            rest = tail.trim();
        }
        let w = words(rest);
        if w[0] == "show" {
            let shown: Vec<String> = w[1..].iter().map(|name| self.show(name)).collect();
            self.out.push_str(&format!("{} {rest} -> {}\n", fmt_time(self.now), shown.join("; ")));
            return;
        }
        let command = self.command(&w);
        let envelope = RoomEnvelope { time: TimeMs(self.now), command };
        let outcome = self.room.apply(&envelope);
        self.room.check_invariants();
        if let (RoomCommand::Join { .. }, Ok(RoomReply::Joined { kind: JoinKind::New, .. })) = (&envelope.command, &outcome)
        {
            self.entries.insert(w[1].clone(), self.entries.len() as u32);
        }
        let text = match &outcome {
            Ok(reply) => fmt_reply(reply),
            Err(rejection) => format!("{} ({rejection:?})", rejection.code()),
        };
        self.out.push_str(&format!("{} {rest} -> {text}\n", fmt_time(self.now)));
        self.log.push((envelope, outcome));
    }

    fn command(&self, w: &[String]) -> RoomCommand {
        let arg = |i: usize| -> u32 { w[i].parse().unwrap_or_else(|_| panic!("a number, not {}", w[i])) };
        match w[0].as_str() {
            "join" => {
                let id_of = if w.get(2).map(String::as_str) == Some("id") { &w[3] } else { &w[1] };
                RoomCommand::Join { identity: identity(&w[1]), queue_id: queue_id(id_of) }
            }
            "draw" => RoomCommand::Draw {
                order: w[1..].iter().map(|x| x.parse().unwrap_or_else(|_| self.entries[x])).collect(),
            },
            "admit" => {
                assert_eq!(w[2], "unsold");
                RoomCommand::Admit { count: arg(1), unsold_places: arg(3) }
            }
            "finish" => RoomCommand::Finish { identity: identity(&w[1]) },
            "pause" => RoomCommand::Pause {
                message: w[1].clone(),
                resume_at: (w.get(2).map(String::as_str) == Some("until")).then(|| TimeMs(parse_time(&w[3]))),
            },
            "resume" => RoomCommand::Resume,
            "soldout" => RoomCommand::SoldOut,
            "tick" => RoomCommand::Tick,
            other => panic!("unknown statement {other}"),
        }
    }

    fn show(&self, name: &str) -> String {
        if name != "room" {
            return match self.room.place(identity(name)) {
                Some(place) => format!("{name} {}", fmt_place(&place)),
                None => format!("{name} not in the room"),
            };
        }
        let c = self.room.counts();
        let mut text = format!(
            "{:?}: {} entries, {} pre-queue, {} waiting, {} admitted, {} done, {} expired",
            self.room.phase(),
            c.entries,
            c.prequeue,
            c.waiting,
            c.admitted,
            c.done,
            c.expired
        );
        if let Some(notice) = self.room.pause_notice() {
            let until = notice.resume_at.map_or("no restart time".into(), |at| format!("back at {}", fmt_time(at.0)));
            text.push_str(&format!(", paused since {}: {:?}, {until}", fmt_time(notice.since.0), notice.message));
        }
        text
    }
}

fn fmt_place(place: &Place) -> String {
    match place {
        Place::PreQueue => "pre-queue".into(),
        Place::Waiting { position } => format!("waiting #{position}"),
        Place::Admitted { until } => format!("admitted until {}", fmt_time(until.0)),
        Place::Done => "done".into(),
        Place::Expired => "expired".into(),
        Place::SoldOut => "sold out".into(),
    }
}

fn fmt_reply(reply: &RoomReply) -> String {
    match reply {
        RoomReply::Joined { kind, place, .. } => format!("{kind:?}: {}", fmt_place(place)),
        RoomReply::Drawn { entries } => format!("drawn {entries}"),
        RoomReply::Admitted { admitted, ranks, until } => {
            format!("admitted {admitted} (ranks {ranks:?}) until {}", fmt_time(until.0))
        }
        RoomReply::Finished => "finished".into(),
        RoomReply::Paused => "paused".into(),
        RoomReply::Resumed { paused_ms } => format!("resumed after {} s", paused_ms / 1000),
        RoomReply::SoldOut { told } => format!("sold out, {told} fans told"),
        RoomReply::Ticked { expired } => format!("ticked, {expired} expired"),
    }
}

fn words(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = line.trim();
    while !rest.is_empty() {
        if let Some(quoted) = rest.strip_prefix('"') {
            let (word, tail) = quoted.split_once('"').expect("closing quote");
            out.push(word.to_string());
            rest = tail.trim_start();
        } else {
            let (word, tail) = rest.split_once(' ').unwrap_or((rest, ""));
            out.push(word.to_string());
            rest = tail.trim_start();
        }
    }
    out
}

fn parse_time(text: &str) -> i64 {
    let parts: Vec<i64> = text.split(':').map(|p| p.parse().expect("HH:MM:SS")).collect();
    assert_eq!(parts.len(), 3, "time is HH:MM:SS, not {text}");
    ((parts[0] * 60 + parts[1]) * 60 + parts[2]) * 1000
}

fn fmt_time(ms: i64) -> String {
    let s = ms / 1000;
    format!("{:02}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
}

#[test]
fn a_sale_from_pre_queue_to_sold_out() {
    check(
        r#"
room prequeue 13:00:00 opens 14:00:00 window 300s active 3 entries 100
at 12:59:59 join anna                       # the pre-queue is not open yet
at 13:00:00 join anna
at 13:10:00 join bert
at 13:20:00 join cleo
at 13:25:00 join dora
at 13:30:00 join anna                       # a refresh on another device: same place
join emil id anna                           # a queue id names one fan only
show anna room
at 13:59:59 draw 0 1 2 3                    # the pre-queue is final only at the opening
at 14:00:00 admit 1 unsold 100              # nobody goes in before the draw
join finn                                   # after the opening: behind the whole pre-queue
show finn room
draw 0 1 1 2                                # not a permutation
draw dora bert                              # too short
draw cleo anna dora bert
show cleo anna dora bert finn
at 14:00:05 join gina
admit 10 unsold 2                           # capped by the places left
show cleo anna dora
admit 10 unsold 100                         # capped by the checkout maximum: one more
admit 10 unsold 100                         # checkout is full
at 14:02:00 finish cleo                     # bought: the slot frees
finish cleo                                 # only once
admit 10 unsold 100
show room
at 14:05:05 tick                            # anna's and dora's windows ran out
show anna dora bert finn gina
admit 10 unsold 100
at 14:06:00 pause "Technische Störung, gleich geht es weiter" until 14:30:00
admit 10 unsold 100                         # the brake holds admissions
show room bert finn gina
at 14:20:00 tick                            # frozen: bert's window does not run out
join hans                                   # the line stays open while paused
join ida
join jan
show bert hans jan
at 14:21:00 resume                          # 15 minutes paused: every window 15 minutes longer
show bert finn gina hans
at 14:22:00 admit 1 unsold 100
at 14:23:00 soldout
show room bert hans ida jan
join kai                                    # nothing left to queue for
join ida                                    # a refresh shows sold out
join gina                                   # in checkout: may still finish
admit 1 unsold 0
pause "x"
at 14:40:00 tick                            # checkout windows still run out after sold out
show bert finn gina ida room
"#,
        expect![[r#"
            12:59:59 join anna -> room_not_open (RoomNotOpen { prequeue_opens_at: TimeMs(46800000) })
            13:00:00 join anna -> New: pre-queue
            13:10:00 join bert -> New: pre-queue
            13:20:00 join cleo -> New: pre-queue
            13:25:00 join dora -> New: pre-queue
            13:30:00 join anna -> Existing: pre-queue
            13:30:00 join emil id anna -> queue_id_taken (QueueIdTaken)
            13:30:00 show anna room -> anna pre-queue; PreQueue: 4 entries, 4 pre-queue, 0 waiting, 0 admitted, 0 done, 0 expired
            13:59:59 draw 0 1 2 3 -> draw_too_early (DrawTooEarly { opens_at: TimeMs(50400000) })
            14:00:00 admit 1 unsold 100 -> draw_pending (DrawPending)
            14:00:00 join finn -> New: waiting #5
            14:00:00 show finn room -> finn waiting #5; AwaitingDraw: 5 entries, 4 pre-queue, 1 waiting, 0 admitted, 0 done, 0 expired
            14:00:00 draw 0 1 1 2 -> draw_not_permutation (DrawNotPermutation { reason: "the order names an entry twice" })
            14:00:00 draw dora bert -> draw_not_permutation (DrawNotPermutation { reason: "the order's length differs from the pre-queue's" })
            14:00:00 draw cleo anna dora bert -> drawn 4
            14:00:00 show cleo anna dora bert finn -> cleo waiting #1; anna waiting #2; dora waiting #3; bert waiting #4; finn waiting #5
            14:00:05 join gina -> New: waiting #6
            14:00:05 admit 10 unsold 2 -> admitted 2 (ranks 0..2) until 14:05:05
            14:00:05 show cleo anna dora -> cleo admitted until 14:05:05; anna admitted until 14:05:05; dora waiting #1
            14:00:05 admit 10 unsold 100 -> admitted 1 (ranks 2..3) until 14:05:05
            14:00:05 admit 10 unsold 100 -> admitted 0 (ranks 3..3) until 14:05:05
            14:02:00 finish cleo -> finished
            14:02:00 finish cleo -> not_admitted (NotAdmitted)
            14:02:00 admit 10 unsold 100 -> admitted 1 (ranks 3..4) until 14:07:00
            14:02:00 show room -> Admitting: 6 entries, 0 pre-queue, 2 waiting, 3 admitted, 1 done, 0 expired
            14:05:05 tick -> ticked, 2 expired
            14:05:05 show anna dora bert finn gina -> anna expired; dora expired; bert admitted until 14:07:00; finn waiting #1; gina waiting #2
            14:05:05 admit 10 unsold 100 -> admitted 2 (ranks 4..6) until 14:10:05
            14:06:00 pause "Technische Störung, gleich geht es weiter" until 14:30:00 -> paused
            14:06:00 admit 10 unsold 100 -> room_paused (RoomPaused { message: "Technische Störung, gleich geht es weiter", resume_at: Some(TimeMs(52200000)) })
            14:06:00 show room bert finn gina -> Paused: 6 entries, 0 pre-queue, 0 waiting, 3 admitted, 1 done, 2 expired, paused since 14:06:00: "Technische Störung, gleich geht es weiter", back at 14:30:00; bert admitted until 14:07:00; finn admitted until 14:10:05; gina admitted until 14:10:05
            14:20:00 tick -> ticked, 0 expired
            14:20:00 join hans -> New: waiting #1
            14:20:00 join ida -> New: waiting #2
            14:20:00 join jan -> New: waiting #3
            14:20:00 show bert hans jan -> bert admitted until 14:07:00; hans waiting #1; jan waiting #3
            14:21:00 resume -> resumed after 900 s
            14:21:00 show bert finn gina hans -> bert admitted until 14:22:00; finn admitted until 14:25:05; gina admitted until 14:25:05; hans waiting #1
            14:22:00 admit 1 unsold 100 -> admitted 1 (ranks 6..7) until 14:27:00
            14:23:00 soldout -> sold out, 2 fans told
            14:23:00 show room bert hans ida jan -> SoldOut: 9 entries, 0 pre-queue, 2 waiting, 3 admitted, 1 done, 3 expired; bert expired; hans admitted until 14:27:00; ida sold out; jan sold out
            14:23:00 join kai -> sold_out (SoldOut)
            14:23:00 join ida -> Existing: sold out
            14:23:00 join gina -> Existing: admitted until 14:25:05
            14:23:00 admit 1 unsold 0 -> sold_out (SoldOut)
            14:23:00 pause "x" -> sold_out (SoldOut)
            14:40:00 tick -> ticked, 3 expired
            14:40:00 show bert finn gina ida room -> bert expired; finn expired; gina expired; ida sold out; SoldOut: 9 entries, 0 pre-queue, 2 waiting, 0 admitted, 1 done, 6 expired
        "#]],
    );
}

// ----- promises, one test each -----

const PRE: i64 = 1_000_000;
const OPEN: i64 = 2_000_000;
const WINDOW: i64 = 60_000;

fn room(active: u32) -> WaitingRoom {
    let config = RoomConfig {
        prequeue_opens_at: TimeMs(PRE),
        opens_at: TimeMs(OPEN),
        checkout_window_ms: WINDOW,
        admitted_active_max: active,
        entries_max: 1_000,
    };
    let room = WaitingRoom::new(config).expect("valid config");
    room.check_invariants();
    room
}

fn fans(range: std::ops::Range<u32>) -> Vec<String> {
    range.map(|i| format!("fan-{i}")).collect()
}

/// Joins `pre` fans before the opening and `late` after it, draws the pre-queue in
/// reverse join order, and returns every fan's name in join order.
fn drawn_room(active: u32, pre: u32, late: u32) -> (WaitingRoom, Vec<String>) {
    let mut room = room(active);
    let names = fans(0..pre + late);
    for (i, name) in names.iter().enumerate() {
        let at = if (i as u32) < pre { PRE + i as i64 } else { OPEN + i as i64 };
        assert!(join(&mut room, at, name).is_ok());
    }
    let order = (0..pre).rev().collect();
    assert_eq!(apply(&mut room, OPEN + 1_000, RoomCommand::Draw { order }), Ok(RoomReply::Drawn { entries: pre }));
    (room, names)
}

fn places(room: &WaitingRoom, names: &[String]) -> Vec<Option<Place>> {
    names.iter().map(|name| room.place(identity(name))).collect()
}

#[test]
fn joining_twice_with_the_same_identity_returns_the_same_place() {
    let mut room = room(2);
    let first = join(&mut room, PRE, "anna");
    // A second device sends a fresh queue id: the first one stays.
    let again = apply(&mut room, PRE + 5, RoomCommand::Join { identity: identity("anna"), queue_id: queue_id("other") });
    let Ok(RoomReply::Joined { kind: JoinKind::Existing, queue_id: id, place }) = again else { panic!("{again:?}") };
    let Ok(RoomReply::Joined { kind: JoinKind::New, queue_id: first_id, .. }) = first else { panic!("{first:?}") };
    assert_eq!((id, place), (first_id, Place::PreQueue));
    assert_eq!(room.counts().entries, 1, "no second entry");
    assert_eq!(room.place_by_queue_id(queue_id("other")), None, "the second queue id was not taken");

    join(&mut room, OPEN, "bert").expect("late join");
    let late = join(&mut room, OPEN + 1, "bert");
    assert!(matches!(late, Ok(RoomReply::Joined { kind: JoinKind::Existing, place: Place::Waiting { position: 2 }, .. })));
    apply(&mut room, OPEN + 2, RoomCommand::Draw { order: vec![0] }).expect("draw");
    apply(&mut room, OPEN + 3, RoomCommand::Admit { count: 1, unsold_places: 10 }).expect("admit");
    let admitted = join(&mut room, OPEN + 4, "anna");
    let until = TimeMs(OPEN + 3 + WINDOW);
    assert!(matches!(admitted, Ok(RoomReply::Joined { kind: JoinKind::Existing, place: Place::Admitted { until: u }, .. }) if u == until));
    assert_eq!(room.place(identity("bert")), Some(Place::Waiting { position: 1 }));
    assert_eq!(room.counts().entries, 2);
}

#[test]
fn a_draw_that_is_not_a_permutation_of_the_pre_queue_is_rejected() {
    let mut room = room(2);
    for (i, name) in fans(0..3).iter().enumerate() {
        join(&mut room, PRE + i as i64, name).expect("join");
    }
    join(&mut room, OPEN, "late").expect("late join");
    // Only the time step may change a room that rejects; let it happen first.
    apply(&mut room, OPEN + 10, RoomCommand::Tick).expect("tick");
    for bad in [vec![], vec![0, 1], vec![0, 1, 1], vec![0, 1, 3], vec![2, 1, 0, 3], vec![0, 1, 2, 2]] {
        let before = room.clone();
        let outcome = apply(&mut room, OPEN + 10, RoomCommand::Draw { order: bad.clone() });
        assert_eq!(code(&outcome), "draw_not_permutation", "{bad:?}");
        assert_eq!(room, before, "a rejected draw changes nothing");
    }
    assert_eq!(room.phase(), Phase::AwaitingDraw);
    apply(&mut room, OPEN + 20, RoomCommand::Draw { order: vec![2, 0, 1] }).expect("a permutation is accepted");
    let again = apply(&mut room, OPEN + 30, RoomCommand::Draw { order: vec![0, 1, 2] });
    assert_eq!(code(&again), "already_drawn");
    let positions = places(&room, &[fans(0..3), vec!["late".into()]].concat());
    let waiting = |position| Some(Place::Waiting { position });
    assert_eq!(positions, vec![waiting(2), waiting(3), waiting(1), waiting(4)]);
}

#[test]
fn pause_and_resume_keep_every_place_and_checkout_window() {
    let (mut room, names) = drawn_room(4, 6, 4);
    let t0 = OPEN + 2_000;
    apply(&mut room, t0, RoomCommand::Admit { count: 4, unsold_places: 100 }).expect("admit");
    let pause_at = t0 + 30_000;
    let pause = RoomCommand::Pause { message: "Kurze Pause".into(), resume_at: Some(TimeMs(pause_at + 600_000)) };
    assert_eq!(apply(&mut room, pause_at, pause), Ok(RoomReply::Paused));
    let before = places(&room, &names);
    assert_eq!(before.iter().filter(|p| matches!(p, Some(Place::Admitted { .. }))).count(), 4);

    // Far past every window: nothing runs out, nobody moves, nobody is admitted.
    assert_eq!(apply(&mut room, pause_at + 300_000, RoomCommand::Tick), Ok(RoomReply::Ticked { expired: 0 }));
    let refused = apply(&mut room, pause_at + 300_000, RoomCommand::Admit { count: 1, unsold_places: 100 });
    assert_eq!(
        refused,
        Err(RoomRejection::RoomPaused { message: "Kurze Pause".into(), resume_at: Some(TimeMs(pause_at + 600_000)) })
    );
    assert_eq!(places(&room, &names), before);
    assert_eq!(room.next_expiry(), None, "nothing falls due while paused");

    let paused_ms = 400_000;
    let resumed = apply(&mut room, pause_at + paused_ms, RoomCommand::Resume);
    assert_eq!(resumed, Ok(RoomReply::Resumed { paused_ms }));
    let shifted: Vec<Option<Place>> = before
        .iter()
        .map(|place| match place {
            Some(Place::Admitted { until }) => Some(Place::Admitted { until: until.plus_ms(paused_ms) }),
            other => *other,
        })
        .collect();
    assert_eq!(places(&room, &names), shifted, "windows extended by the pause, positions unchanged");
    // The window gives back exactly the 30 s that were left when the brake was pulled.
    let left = WINDOW - 30_000;
    assert_eq!(apply(&mut room, pause_at + paused_ms + left - 1, RoomCommand::Tick), Ok(RoomReply::Ticked { expired: 0 }));
    assert_eq!(apply(&mut room, pause_at + paused_ms + left, RoomCommand::Tick), Ok(RoomReply::Ticked { expired: 4 }));
    let next = apply(&mut room, pause_at + paused_ms + left, RoomCommand::Admit { count: 10, unsold_places: 100 });
    assert!(matches!(next, Ok(RoomReply::Admitted { admitted: 4, ref ranks, .. }) if *ranks == (4..8)), "{next:?}");
}

#[test]
fn sold_out_is_what_every_waiting_fan_sees_at_once() {
    let (mut room, names) = drawn_room(3, 5, 5);
    apply(&mut room, OPEN + 2_000, RoomCommand::Admit { count: 3, unsold_places: 3 }).expect("admit");
    assert_eq!(apply(&mut room, OPEN + 3_000, RoomCommand::SoldOut), Ok(RoomReply::SoldOut { told: 7 }));
    assert_eq!(room.phase(), Phase::SoldOut);
    let now = places(&room, &names);
    assert_eq!(now.iter().filter(|p| **p == Some(Place::SoldOut)).count(), 7, "{now:?}");
    assert_eq!(now.iter().filter(|p| matches!(p, Some(Place::Admitted { .. }))).count(), 3, "checkout may finish");
    assert_eq!(code(&join(&mut room, OPEN + 4_000, "newcomer")), "sold_out");
    assert_eq!(code(&apply(&mut room, OPEN + 4_000, RoomCommand::Admit { count: 1, unsold_places: 1 })), "sold_out");
    assert_eq!(code(&apply(&mut room, OPEN + 4_000, RoomCommand::Resume)), "sold_out");
    assert_eq!(code(&apply(&mut room, OPEN + 4_000, RoomCommand::SoldOut)), "sold_out");
    assert_eq!(apply(&mut room, OPEN + 5_000, RoomCommand::Finish { identity: identity(&names[4]) }), Ok(RoomReply::Finished));
}

#[test]
fn a_pre_queue_still_undrawn_at_sold_out_is_told_too() {
    let mut room = room(3);
    join(&mut room, PRE, "anna").expect("join");
    join(&mut room, OPEN, "bert").expect("join");
    assert_eq!(apply(&mut room, OPEN, RoomCommand::SoldOut), Ok(RoomReply::SoldOut { told: 2 }));
    assert_eq!(places(&room, &["anna".into(), "bert".into()]), vec![Some(Place::SoldOut); 2]);
}

#[test]
fn admission_never_exceeds_the_unsold_places() {
    // 50 fans for 6 places with room for 40 in checkout: only 6 go in at once.
    let (mut room, names) = drawn_room(40, 30, 20);
    let mut unsold = 6u32;
    let mut t = OPEN + 2_000;
    let mut next = 0;
    while unsold > 0 {
        let reply = apply(&mut room, t, RoomCommand::Admit { count: 40, unsold_places: unsold });
        let Ok(RoomReply::Admitted { ranks, .. }) = reply else { panic!("{reply:?}") };
        assert!(room.counts().admitted <= unsold, "{} in checkout for {unsold} places", room.counts().admitted);
        assert_eq!(room.counts().admitted, unsold, "as many as there are places");
        next = ranks.end.max(next);
        // The first one in checkout buys one place.
        let buyer = names.iter().find(|n| matches!(room.place(identity(n)), Some(Place::Admitted { .. }))).unwrap();
        apply(&mut room, t + 1, RoomCommand::Finish { identity: identity(buyer) }).expect("finish");
        unsold -= 1;
        t += 10;
    }
    assert_eq!(next, 6, "one admission per sold place after the first six");
    let none = apply(&mut room, t, RoomCommand::Admit { count: 40, unsold_places: 0 });
    assert!(matches!(none, Ok(RoomReply::Admitted { admitted: 0, .. })), "{none:?}");
}

#[test]
fn joining_outside_the_room_hours_and_bad_input_are_rejected() {
    let mut room = room(2);
    assert_eq!(code(&join(&mut room, PRE - 1, "early")), "room_not_open");
    assert_eq!(room.phase(), Phase::NotYetOpen);
    join(&mut room, PRE, "anna").expect("join");
    assert_eq!(code(&apply(&mut room, PRE, RoomCommand::Admit { count: 1, unsold_places: 9 })), "draw_pending");
    assert_eq!(code(&apply(&mut room, OPEN - 1, RoomCommand::Draw { order: vec![0] })), "draw_too_early");
    apply(&mut room, OPEN, RoomCommand::Draw { order: vec![0] }).expect("draw");
    for count in [0, admit_count_max + 1] {
        assert_eq!(code(&apply(&mut room, OPEN, RoomCommand::Admit { count, unsold_places: 9 })), "invalid_request");
    }
    let long = "x".repeat(pause_message_bytes_max + 1);
    assert_eq!(code(&apply(&mut room, OPEN, RoomCommand::Pause { message: long, resume_at: None })), "invalid_request");
    let past = RoomCommand::Pause { message: "p".into(), resume_at: Some(TimeMs(OPEN)) };
    assert_eq!(code(&apply(&mut room, OPEN, past)), "invalid_request");
    assert_eq!(code(&apply(&mut room, OPEN, RoomCommand::Resume)), "not_paused");
    assert_eq!(code(&apply(&mut room, OPEN, RoomCommand::Finish { identity: identity("nobody") })), "unknown_identity");
    assert_eq!(code(&apply(&mut room, OPEN, RoomCommand::Finish { identity: identity("anna") })), "not_admitted");
    // Time never goes backwards: a command stamped earlier happens at the room's now.
    assert_eq!(code(&join(&mut room, PRE, "late")), "ok");
    assert_eq!(room.now(), TimeMs(OPEN));
    assert_eq!(room.place(identity("late")), Some(Place::Waiting { position: 2 }), "not a pre-queue join");
}

#[test]
fn a_full_room_turns_new_fans_away_but_still_answers_old_ones() {
    let mut room = WaitingRoom::new(RoomConfig { entries_max: 2, ..room(1).config().clone() }).expect("config");
    join(&mut room, PRE, "anna").expect("join");
    join(&mut room, PRE, "bert").expect("join");
    assert_eq!(join(&mut room, PRE, "cleo"), Err(RoomRejection::RoomFull { max: 2 }));
    assert!(matches!(join(&mut room, PRE, "anna"), Ok(RoomReply::Joined { kind: JoinKind::Existing, .. })));
}

#[test]
fn a_room_refuses_a_config_outside_its_limits() {
    let good = room(1).config().clone();
    let bad = [
        RoomConfig { prequeue_opens_at: TimeMs(OPEN + 1), ..good.clone() },
        RoomConfig { prequeue_opens_at: TimeMs(OPEN - 15 * 24 * 3_600_000), ..good.clone() },
        RoomConfig { checkout_window_ms: 9_999, ..good.clone() },
        RoomConfig { checkout_window_ms: 3_600_001, ..good.clone() },
        RoomConfig { admitted_active_max: 0, ..good.clone() },
        RoomConfig { entries_max: 0, ..good.clone() },
        RoomConfig { entries_max: room_entries_max + 1, ..good.clone() },
    ];
    for config in bad {
        assert_eq!(WaitingRoom::new(config.clone()).map(|_| ()).map_err(|e| e.code()), Err("invalid_config"), "{config:?}");
    }
    assert!(WaitingRoom::new(good).is_ok());
}

// ----- random runs against a reference model -----
//
// A small, crowded room: 10 identities for 8 entries (so `room_full` bites), 3 in
// checkout at most, a 10 s window, the pre-queue open from 10 s and the sale from
// 20 s, runs that start 3 s before the pre-queue (so `room_not_open` happens) and sometimes jump far
// enough for windows to run out. Draws are usually a fair shuffle of the pre-queue
// and sometimes broken on purpose.

const P_PRE: i64 = 10_000;
const P_OPEN: i64 = 20_000;
const P_WINDOW: i64 = 10_000;
const P_ACTIVE: u32 = 3;
const P_ENTRIES: u32 = 8;
const P_FANS: u8 = 10;

fn p_config() -> RoomConfig {
    RoomConfig {
        prequeue_opens_at: TimeMs(P_PRE),
        opens_at: TimeMs(P_OPEN),
        checkout_window_ms: P_WINDOW,
        admitted_active_max: P_ACTIVE,
        entries_max: P_ENTRIES,
    }
}

fn p_identity(who: u8) -> IdentityKey {
    IdentityKey(0xfa00 + u128::from(who))
}

fn p_queue_id(who: u8) -> QueueId {
    QueueId([who; 16])
}

#[derive(Clone, Debug)]
enum Op {
    /// `id_of` is usually `who`; otherwise someone else's queue id.
    Join { who: u8, id_of: u8 },
    /// Sort keys for a shuffle, and how to break it (0..=6: not at all).
    Draw { keys: Vec<u16>, defect: u8 },
    Admit { count: u32, unsold: u32 },
    Finish { who: u8 },
    Pause { long: bool, resume_in: Option<i64> },
    Resume,
    SoldOut,
    Tick,
}

fn op() -> impl Strategy<Value = Op> {
    let who = 0..P_FANS;
    // Sold out ends the interesting part of a run, so it is rare.
    prop_oneof![
        60 => (who.clone(), prop_oneof![8 => Just(None), 1 => (0..P_FANS).prop_map(Some)])
            .prop_map(|(who, other)| Op::Join { who, id_of: other.unwrap_or(who) }),
        12 => (prop::collection::vec(any::<u16>(), 12), 0u8..10).prop_map(|(keys, defect)| Op::Draw { keys, defect }),
        40 => (prop_oneof![1 => Just(0u32), 12 => 1u32..5, 1 => Just(admit_count_max + 1)], 0u32..6)
            .prop_map(|(count, unsold)| Op::Admit { count, unsold }),
        // Values past the fans pick whoever is in checkout, so finishing is common.
        24 => (0..P_FANS + 6).prop_map(|who| Op::Finish { who }),
        5 => (prop::bool::weighted(0.1), prop::option::of(-1_000i64..60_000))
            .prop_map(|(long, resume_in)| Op::Pause { long, resume_in }),
        5 => Just(Op::Resume),
        1 => Just(Op::SoldOut),
        6 => Just(Op::Tick),
    ]
}

fn advance() -> impl Strategy<Value = i64> {
    prop_oneof![4 => Just(0i64), 8 => 0i64..3_000, 2 => 3_000i64..15_000, 1 => Just(-500i64)]
}

/// The model's view of one fan.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Fan {
    PreQueue,
    Waiting,
    Admitted(i64),
    Done,
    Expired,
}

#[derive(Clone, Debug, PartialEq)]
enum Gate {
    Running,
    Paused(i64),
    SoldOut,
}

/// Written from the promises, not from the room's code: it keeps the line as an
/// explicit list of fans and finds a position by counting who waits ahead.
struct Model {
    now: i64,
    /// Who joined, in join order (the entry indexes a draw names).
    joined: Vec<u8>,
    pre: usize,
    drawn: bool,
    /// The admission order: the drawn pre-queue (once drawn), then late arrivals.
    line: Vec<u8>,
    fans: BTreeMap<u8, Fan>,
    ids: BTreeSet<u8>,
    gate: Gate,
}

impl Model {
    fn new() -> Model {
        Model { now: 0, joined: vec![], pre: 0, drawn: false, line: vec![], fans: BTreeMap::new(), ids: BTreeSet::new(), gate: Gate::Running }
    }

    fn in_line(fan: Fan) -> bool {
        matches!(fan, Fan::PreQueue | Fan::Waiting)
    }

    /// The reply as a short summary; the room's replies are summarized alike.
    fn apply(&mut self, at: i64, op: &Op, command: &RoomCommand) -> Result<String, &'static str> {
        self.now = self.now.max(at);
        let mut expired = 0;
        // The brake freezes every window.
        if !matches!(self.gate, Gate::Paused(_)) {
            for fan in self.fans.values_mut() {
                if matches!(*fan, Fan::Admitted(until) if until <= self.now) {
                    *fan = Fan::Expired;
                    expired += 1;
                }
            }
        }
        match (op, command) {
            (Op::Join { who, id_of }, _) => self.join(*who, *id_of),
            (Op::Draw { .. }, RoomCommand::Draw { order }) => self.draw(order),
            (Op::Admit { count, unsold }, _) => self.admit(*count, *unsold),
            (Op::Finish { .. }, RoomCommand::Finish { identity }) => match self.fans.get(&((identity.0 - 0xfa00) as u8)) {
                None => Err("unknown_identity"),
                Some(Fan::Admitted(_)) => {
                    self.fans.insert((identity.0 - 0xfa00) as u8, Fan::Done);
                    Ok("finished".into())
                }
                Some(_) => Err("not_admitted"),
            },
            (Op::Pause { long, resume_in }, _) => {
                if self.gate == Gate::SoldOut {
                    return Err("sold_out");
                }
                if *long || resume_in.is_some_and(|d| d <= 0) {
                    return Err("invalid_request");
                }
                if !matches!(self.gate, Gate::Paused(_)) {
                    self.gate = Gate::Paused(self.now);
                }
                Ok("paused".into())
            }
            (Op::Resume, _) => match self.gate {
                Gate::SoldOut => Err("sold_out"),
                Gate::Running => Err("not_paused"),
                Gate::Paused(since) => {
                    self.extend(self.now - since);
                    self.gate = Gate::Running;
                    Ok(format!("resumed {}", self.now - since))
                }
            },
            (Op::SoldOut, _) => {
                match self.gate {
                    Gate::SoldOut => return Err("sold_out"),
                    Gate::Paused(since) => self.extend(self.now - since),
                    Gate::Running => {}
                }
                self.gate = Gate::SoldOut;
                Ok(format!("sold out {}", self.fans.values().filter(|f| Model::in_line(**f)).count()))
            }
            (Op::Tick, _) => Ok(format!("ticked {expired}")),
            (Op::Draw { .. } | Op::Finish { .. }, _) => unreachable!("the command follows the op"),
        }
    }

    fn extend(&mut self, ms: i64) {
        for fan in self.fans.values_mut() {
            if let Fan::Admitted(until) = fan {
                *until += ms;
            }
        }
    }

    fn join(&mut self, who: u8, id_of: u8) -> Result<String, &'static str> {
        if self.fans.contains_key(&who) {
            return Ok("joined existing".into());
        }
        if self.now < P_PRE {
            return Err("room_not_open");
        }
        if self.gate == Gate::SoldOut {
            return Err("sold_out");
        }
        if !self.ids.insert(id_of) {
            return Err("queue_id_taken");
        }
        if self.joined.len() >= P_ENTRIES as usize {
            self.ids.remove(&id_of);
            return Err("room_full");
        }
        self.joined.push(who);
        if self.now < P_OPEN {
            self.pre += 1;
            self.fans.insert(who, Fan::PreQueue);
        } else {
            self.fans.insert(who, Fan::Waiting);
            self.line.push(who);
        }
        Ok("joined new".into())
    }

    fn draw(&mut self, order: &[u32]) -> Result<String, &'static str> {
        if self.now < P_OPEN {
            return Err("draw_too_early");
        }
        if self.drawn {
            return Err("already_drawn");
        }
        let mut sorted = order.to_vec();
        sorted.sort_unstable();
        if sorted != (0..self.pre as u32).collect::<Vec<u32>>() {
            return Err("draw_not_permutation");
        }
        let drawn: Vec<u8> = order.iter().map(|&i| self.joined[i as usize]).collect();
        for who in &drawn {
            self.fans.insert(*who, Fan::Waiting);
        }
        self.line = drawn.into_iter().chain(self.line.drain(..)).collect();
        self.drawn = true;
        Ok(format!("drawn {}", self.pre))
    }

    fn admit(&mut self, count: u32, unsold: u32) -> Result<String, &'static str> {
        match self.gate {
            Gate::SoldOut => return Err("sold_out"),
            Gate::Paused(_) => return Err("room_paused"),
            Gate::Running => {}
        }
        if !self.drawn {
            return Err("draw_pending");
        }
        if count == 0 || count > admit_count_max {
            return Err("invalid_request");
        }
        let active = self.fans.values().filter(|f| matches!(f, Fan::Admitted(_))).count() as u32;
        let mut free = P_ACTIVE.min(unsold).saturating_sub(active).min(count);
        let mut admitted = 0;
        for who in &self.line {
            if free == 0 {
                break;
            }
            if self.fans[who] == Fan::Waiting {
                self.fans.insert(*who, Fan::Admitted(self.now + P_WINDOW));
                free -= 1;
                admitted += 1;
            }
        }
        Ok(format!("admitted {admitted}"))
    }

    fn place(&self, who: u8) -> Option<Place> {
        let fan = *self.fans.get(&who)?;
        if self.gate == Gate::SoldOut && Model::in_line(fan) {
            return Some(Place::SoldOut);
        }
        Some(match fan {
            Fan::PreQueue => Place::PreQueue,
            Fan::Waiting => {
                let me = self.line.iter().position(|w| *w == who).expect("waiting fans are in the line");
                let ahead = self.line[..me].iter().filter(|w| self.fans[*w] == Fan::Waiting).count();
                let undrawn = if self.drawn { 0 } else { self.pre };
                Place::Waiting { position: (undrawn + ahead + 1) as u32 }
            }
            Fan::Admitted(until) => Place::Admitted { until: TimeMs(until) },
            Fan::Done => Place::Done,
            Fan::Expired => Place::Expired,
        })
    }
}

fn summary(reply: &RoomReply) -> String {
    match reply {
        RoomReply::Joined { kind: JoinKind::New, .. } => "joined new".into(),
        RoomReply::Joined { kind: JoinKind::Existing, .. } => "joined existing".into(),
        RoomReply::Drawn { entries } => format!("drawn {entries}"),
        RoomReply::Admitted { admitted, .. } => format!("admitted {admitted}"),
        RoomReply::Finished => "finished".into(),
        RoomReply::Paused => "paused".into(),
        RoomReply::Resumed { paused_ms } => format!("resumed {paused_ms}"),
        RoomReply::SoldOut { told } => format!("sold out {told}"),
        RoomReply::Ticked { expired } => format!("ticked {expired}"),
    }
}

/// The command for a step; a draw is built from the model's pre-queue size, and a
/// finish past the fans names someone the model has in checkout.
fn command(op: &Op, now: i64, model: &Model) -> RoomCommand {
    let pre = model.pre;
    match op {
        Op::Join { who, id_of } => RoomCommand::Join { identity: p_identity(*who), queue_id: p_queue_id(*id_of) },
        Op::Draw { keys, defect } => {
            let mut order: Vec<u32> = (0..pre as u32).collect();
            order.sort_by_key(|&i| (keys[i as usize % keys.len()], i));
            match defect {
                7 => drop(order.pop()),
                8 => order.push(order.first().copied().unwrap_or(0)),
                9 => order.push(pre as u32),
                _ => {}
            }
            RoomCommand::Draw { order }
        }
        Op::Admit { count, unsold } => RoomCommand::Admit { count: *count, unsold_places: *unsold },
        Op::Finish { who } => {
            let in_checkout = model.fans.iter().find(|(_, fan)| matches!(fan, Fan::Admitted(_))).map(|(who, _)| *who);
            let who = if *who < P_FANS { *who } else { in_checkout.unwrap_or(0) };
            RoomCommand::Finish { identity: p_identity(who) }
        }
        Op::Pause { long, resume_in } => RoomCommand::Pause {
            message: if *long { "x".repeat(pause_message_bytes_max + 1) } else { "Pause".into() },
            resume_at: resume_in.map(|d| TimeMs(now + d)),
        },
        Op::Resume => RoomCommand::Resume,
        Op::SoldOut => RoomCommand::SoldOut,
        Op::Tick => RoomCommand::Tick,
    }
}

fn run(steps: &[(i64, Op)]) {
    let mut room = WaitingRoom::new(p_config()).expect("config");
    let mut model = Model::new();
    let mut log = Vec::new();
    let mut at = P_PRE - 3_000;
    for (n, (advance, op)) in steps.iter().enumerate() {
        // A negative advance stamps a command in the past: both must treat it as now.
        at += advance;
        let command = command(op, model.now.max(at), &model);
        let envelope = RoomEnvelope { time: TimeMs(at), command };
        let outcome = room.apply(&envelope);
        room.check_invariants();
        let expected = model.apply(at, op, &envelope.command);
        let got = outcome.as_ref().map(summary).map_err(RoomRejection::code);
        assert_eq!(got, expected, "step {n}: {op:?}");
        if let (RoomCommand::Admit { unsold_places, .. }, Ok(RoomReply::Admitted { admitted, .. })) = (&envelope.command, &outcome) {
            assert!(*admitted == 0 || room.counts().admitted <= *unsold_places, "step {n}: checkout over the unsold places");
        }
        for who in 0..P_FANS {
            let place = room.place(p_identity(who));
            assert_eq!(place, model.place(who), "step {n}: place of fan {who}");
            // What a runtime answers from a signed rank and the published cursor
            // alone must agree with the room wherever it claims to know.
            if let Some(rank) = room.rank(p_identity(who)) {
                let upto = room.admitted_upto();
                let waiting = matches!(place, Some(Place::Waiting { .. }));
                assert_eq!(rank >= upto && room.phase() != Phase::SoldOut, waiting, "step {n}: rank {rank} vs cursor {upto}");
                if let Some(Place::Waiting { position }) = place {
                    assert_eq!(position, rank - upto + 1, "step {n}: position from the rank");
                }
            } else {
                assert!(matches!(place, None | Some(Place::PreQueue | Place::SoldOut)), "step {n}: unranked fan {who} is {place:?}");
            }
        }
        log.push((envelope, outcome));
    }
    let mut replayed = WaitingRoom::new(p_config()).expect("config");
    for (envelope, outcome) in &log {
        assert_eq!(&replayed.apply(envelope), outcome, "replay decides the same");
    }
    assert_eq!(replayed, room, "replay rebuilds an equal room");
}

fn p_cases() -> Config {
    Config { cases: 2_000, failure_persistence: None, ..Config::default() }
}

proptest! {
    #![proptest_config(p_cases())]

    #[test]
    fn random_runs_keep_the_invariants_agree_with_the_model_and_replay_identically(
        steps in prop::collection::vec((advance(), op()), 1..80)
    ) {
        run(&steps);
    }
}
