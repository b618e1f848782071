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
