//! Staff accounts and sessions inside the tenant, through `Tenant::apply` exactly
//! as the log carries them. A scripted office day (accounts, logins on several
//! devices, eviction beyond the per-account bound, a password reset, a disabled
//! cashier, the last admin protected, sessions running out by time) checks every
//! reply, runs the tenant's full invariant check after every step and requires a
//! snapshot round trip (`parts` → `restore`) to give back an equal tenant after
//! every step. A random workload then checks every reply against a small reference
//! model, and replaying all envelopes into a fresh tenant must give the same state.

use proptest::prelude::*;
use proptest::test_runner::Config;
use sturmfest_core::staff::limits::*;
use sturmfest_core::staff::*;
use sturmfest_core::*;

const START: i64 = 1_700_000_000_000;
const HOUR: i64 = 3_600_000;

struct World {
    tenant: Tenant,
    envelopes: Vec<Envelope>,
}

impl World {
    fn new() -> World {
        World { tenant: Tenant::new(), envelopes: Vec::new() }
    }

    fn run(&mut self, at: i64, command: StaffCommand) -> Result<StaffReply, StaffRejection> {
        let envelope = Envelope { time: TimeMs(at), idempotency: None, command: Command::Staff(command) };
        let outcome = self.tenant.apply(&envelope);
        self.envelopes.push(envelope);
        self.tenant.check_invariants();
        let restored = Tenant::restore(self.tenant.parts()).expect("a snapshot restores");
        assert_eq!(restored, self.tenant, "snapshot round trip");
        match outcome {
            Ok(Reply::Staff(reply)) => Ok(reply),
            Err(Rejection::Staff(rejection)) => Err(rejection),
            other => panic!("a staff command answered {other:?}"),
        }
    }

    fn replayed(&self) -> Tenant {
        let mut fresh = Tenant::new();
        for envelope in &self.envelopes {
            let _ = fresh.apply(envelope);
        }
        fresh
    }
}

fn login(name: &str) -> LoginName {
    LoginName::parse(name).expect("a valid login")
}

fn create(name: &str, roles: &[Role]) -> StaffCommand {
    StaffCommand::CreateAccount {
        login: login(name),
        display_name: name.to_uppercase(),
        password_hash: format!("$argon2id$v=19$m=19456,t=2,p=1$salt-{name}$hash"),
        roles: Roles::of(roles),
    }
}

fn digest(n: u8) -> SessionDigest {
    SessionDigest([n; 32])
}

fn start(account: u32, n: u8, expires_at: i64) -> StaffCommand {
    StaffCommand::StartSession { account: StaffAccountId(account), session: digest(n), expires_at: TimeMs(expires_at) }
}

fn valid(w: &World, n: u8, at: i64) -> Option<u32> {
    w.tenant.staff().valid_session(&digest(n), TimeMs(at)).map(|(_, account)| account.id.0)
}

#[test]
fn an_office_day_of_logins_resets_and_a_disabled_cashier_keeps_every_invariant() {
    let mut w = World::new();
    let t = START;
    assert_eq!(w.run(t, create("office", &[Role::Admin, Role::Office])), Ok(StaffReply::AccountCreated { account: StaffAccountId(1) }));
    assert_eq!(w.run(t, create("kasse", &[Role::BoxOffice])), Ok(StaffReply::AccountCreated { account: StaffAccountId(2) }));

    // The rejections of account creation, in their documented order.
    assert_eq!(w.run(t, create("office", &[Role::Office])), Err(StaffRejection::LoginTaken));
    assert_eq!(w.run(t, create("nobody", &[])), Err(StaffRejection::RolesEmpty));
    let bad_login = StaffCommand::CreateAccount {
        login: LoginName::parse("x").map_or_else(|| login("xx"), |l| l),
        display_name: " ".into(),
        password_hash: "plain".into(),
        roles: Roles::NONE,
    };
    assert_eq!(w.run(t, bad_login), Err(StaffRejection::DisplayNameInvalid), "display name before hash and roles");
    let bad_hash = StaffCommand::CreateAccount { login: login("zz"), display_name: "Z".into(), password_hash: "plain".into(), roles: Roles::of(&[Role::Merchant]) };
    assert_eq!(w.run(t, bad_hash), Err(StaffRejection::PasswordHashInvalid));
    assert!(LoginName::parse("Kasse").is_none() && LoginName::parse("-a").is_none() && LoginName::parse("a").is_none());

    // Two devices of the cashier: both valid, independently.
    assert!(matches!(w.run(t + 1, start(2, 1, t + 12 * HOUR)), Ok(StaffReply::SessionStarted { evicted: None, .. })));
    assert!(matches!(w.run(t + 2, start(2, 2, t + 12 * HOUR)), Ok(StaffReply::SessionStarted { evicted: None, .. })));
    assert_eq!(w.run(t + 3, start(1, 2, t + HOUR)), Err(StaffRejection::SessionExists));
    assert_eq!(w.run(t + 3, start(1, 3, t + 3)), Err(StaffRejection::SessionExpiryInvalid), "already due");
    assert_eq!(w.run(t + 3, start(1, 3, t + 8 * 24 * HOUR)), Err(StaffRejection::SessionExpiryInvalid), "beyond the maximum");
    assert_eq!(w.run(t + 3, start(9, 3, t + HOUR)), Err(StaffRejection::UnknownAccount));
    assert_eq!((valid(&w, 1, t + 4), valid(&w, 2, t + 4)), (Some(2), Some(2)));

    // Logging out ends one session only.
    assert_eq!(w.run(t + 5, StaffCommand::EndSession { session: digest(1) }), Ok(StaffReply::SessionEnded { account: StaffAccountId(2) }));
    assert_eq!(w.run(t + 5, StaffCommand::EndSession { session: digest(1) }), Err(StaffRejection::UnknownSession));
    assert_eq!((valid(&w, 1, t + 6), valid(&w, 2, t + 6)), (None, Some(2)));

    // Beyond the bound, the oldest session of the account ends.
    for n in 0..sessions_per_account_max as u8 {
        let reply = w.run(t + 10 + i64::from(n), start(1, 10 + n, t + HOUR)).unwrap();
        assert!(matches!(reply, StaffReply::SessionStarted { evicted: None, .. }));
    }
    let reply = w.run(t + 100, start(1, 99, t + HOUR)).unwrap();
    assert_eq!(reply, StaffReply::SessionStarted { account: StaffAccountId(1), expires_at: TimeMs(t + HOUR), evicted: Some(digest(10)) });
    assert_eq!(w.tenant.staff().sessions_of(StaffAccountId(1)), sessions_per_account_max);

    // The last admin can neither lose the role nor be disabled.
    let cashier_only = Roles::of(&[Role::BoxOffice]);
    assert_eq!(w.run(t + 101, StaffCommand::SetRoles { account: StaffAccountId(1), roles: cashier_only }), Err(StaffRejection::LastAdmin));
    assert_eq!(w.run(t + 101, StaffCommand::Disable { account: StaffAccountId(1) }), Err(StaffRejection::LastAdmin));
    assert_eq!(w.run(t + 101, StaffCommand::SetRoles { account: StaffAccountId(2), roles: Roles::NONE }), Err(StaffRejection::RolesEmpty));

    // A password reset ends every session of the account.
    let reset = StaffCommand::ChangePassword { account: StaffAccountId(1), password_hash: "$argon2id$new".into() };
    assert_eq!(w.run(t + 102, reset), Ok(StaffReply::PasswordChanged { account: StaffAccountId(1), sessions_ended: sessions_per_account_max as u32 }));
    assert_eq!(w.tenant.staff().sessions_of(StaffAccountId(1)), 0);

    // A disabled cashier's sessions stop at once and no new one starts.
    assert_eq!(w.run(t + 103, StaffCommand::Disable { account: StaffAccountId(2) }), Ok(StaffReply::Disabled { account: StaffAccountId(2), sessions_ended: 1 }));
    assert_eq!(valid(&w, 2, t + 104), None);
    assert_eq!(w.run(t + 104, start(2, 50, t + HOUR)), Err(StaffRejection::AccountDisabled));
    assert_eq!(w.run(t + 104, StaffCommand::Disable { account: StaffAccountId(2) }), Err(StaffRejection::AccountDisabled));
    assert_eq!(w.run(t + 104, create("kasse", &[Role::BoxOffice])), Err(StaffRejection::LoginTaken), "a disabled name stays taken");

    // Time ends sessions: valid just before expiry, gone at it, even without a command.
    w.run(t + 200, start(1, 60, t + HOUR)).unwrap();
    assert_eq!(valid(&w, 60, t + HOUR - 1), Some(1));
    assert_eq!(valid(&w, 60, t + HOUR), None, "a session is refused at its expiry even before the tick");
    assert_eq!(w.tenant.next_expiry(), Some(TimeMs(t + HOUR)));
    let tick = Envelope { time: TimeMs(t + HOUR), idempotency: None, command: Command::Tick };
    w.tenant.apply(&tick).unwrap();
    w.envelopes.push(tick);
    assert_eq!(w.tenant.staff().sessions().count(), 0, "the tick removed it");
    w.tenant.check_invariants();

    assert_eq!(w.replayed(), w.tenant, "replay reproduces the state bit for bit");
    assert_eq!(Rejection::Staff(StaffRejection::LastAdmin).code(), "staff_last_admin");
}

#[test]
fn a_snapshot_whose_sessions_lie_is_refused() {
    let mut w = World::new();
    w.run(START, create("office", &[Role::Admin])).unwrap();
    w.run(START, start(1, 1, START + HOUR)).unwrap();
    let mut parts = w.tenant.parts();
    parts.staff.sessions[0].account = StaffAccountId(7);
    assert!(Tenant::restore(parts).is_err(), "a session of a missing account");
    let mut parts = w.tenant.parts();
    parts.staff.accounts.push(parts.staff.accounts[0].clone());
    assert!(Tenant::restore(parts).is_err(), "a repeated account");
}

// ----- random workloads against a reference model -----

#[derive(Clone, Debug)]
enum Op {
    Create { name: u8, roles: u8 },
    Password { account: u32 },
    SetRoles { account: u32, roles: u8 },
    Disable { account: u32 },
    Start { account: u32, session: u8, lifetime_ms: i64 },
    End { session: u8 },
    EndAll { account: u32 },
    Wait { ms: i64 },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (0u8..6, 0u8..32).prop_map(|(name, roles)| Op::Create { name, roles }),
        (1u32..8).prop_map(|account| Op::Password { account }),
        (1u32..8, 0u8..32).prop_map(|(account, roles)| Op::SetRoles { account, roles }),
        (1u32..8).prop_map(|account| Op::Disable { account }),
        (1u32..8, 0u8..40, -10i64..5 * HOUR).prop_map(|(account, session, lifetime_ms)| Op::Start { account, session, lifetime_ms }),
        (1u32..8, 0u8..40, 1i64..1000).prop_map(|(account, session, lifetime_ms)| Op::Start { account, session, lifetime_ms }),
        (0u8..40).prop_map(|session| Op::End { session }),
        (1u32..8).prop_map(|account| Op::EndAll { account }),
        (0i64..2 * HOUR).prop_map(|ms| Op::Wait { ms }),
    ]
}

/// What the model knows: per account (enabled, is admin), and live sessions as
/// (digest byte, account, started, expires).
#[derive(Default)]
struct Model {
    accounts: Vec<(u8, bool, bool)>,
    sessions: Vec<(u8, u32, i64, i64)>,
}

impl Model {
    fn admins(&self) -> usize {
        self.accounts.iter().filter(|(_, enabled, admin)| *enabled && *admin).count()
    }

    fn end_all(&mut self, account: u32) -> u32 {
        let before = self.sessions.len();
        self.sessions.retain(|s| s.1 != account);
        (before - self.sessions.len()) as u32
    }

    fn expect(&mut self, now: i64, op: &Op) -> Result<StaffReply, StaffRejection> {
        self.sessions.retain(|s| s.3 > now);
        let enabled = |m: &Model, a: u32| match m.accounts.get((a as usize).wrapping_sub(1)) {
            None => Err(StaffRejection::UnknownAccount),
            Some((_, false, _)) => Err(StaffRejection::AccountDisabled),
            Some((_, true, admin)) => Ok(*admin),
        };
        let id = StaffAccountId;
        match *op {
            Op::Create { name, roles } => {
                let roles = Roles::from_bits(roles).unwrap();
                if roles.is_empty() {
                    return Err(StaffRejection::RolesEmpty);
                }
                if self.accounts.iter().any(|a| a.0 == name) {
                    return Err(StaffRejection::LoginTaken);
                }
                self.accounts.push((name, true, roles.contains(Role::Admin)));
                Ok(StaffReply::AccountCreated { account: id(self.accounts.len() as u32) })
            }
            Op::Password { account } => {
                enabled(self, account)?;
                Ok(StaffReply::PasswordChanged { account: id(account), sessions_ended: self.end_all(account) })
            }
            Op::SetRoles { account, roles } => {
                let admin = enabled(self, account)?;
                let roles = Roles::from_bits(roles).unwrap();
                if roles.is_empty() {
                    return Err(StaffRejection::RolesEmpty);
                }
                if admin && !roles.contains(Role::Admin) && self.admins() == 1 {
                    return Err(StaffRejection::LastAdmin);
                }
                self.accounts[account as usize - 1].2 = roles.contains(Role::Admin);
                Ok(StaffReply::RolesSet { account: id(account) })
            }
            Op::Disable { account } => {
                let admin = enabled(self, account)?;
                if admin && self.admins() == 1 {
                    return Err(StaffRejection::LastAdmin);
                }
                self.accounts[account as usize - 1].1 = false;
                Ok(StaffReply::Disabled { account: id(account), sessions_ended: self.end_all(account) })
            }
            Op::Start { account, session, lifetime_ms } => {
                enabled(self, account)?;
                if lifetime_ms <= 0 {
                    return Err(StaffRejection::SessionExpiryInvalid);
                }
                if self.sessions.iter().any(|s| s.0 == session) {
                    return Err(StaffRejection::SessionExists);
                }
                let mine: Vec<_> = self.sessions.iter().filter(|s| s.1 == account).map(|s| (s.2, s.0)).collect();
                let evicted = (mine.len() >= sessions_per_account_max).then(|| mine.iter().min().unwrap().1);
                self.sessions.retain(|s| Some(s.0) != evicted);
                self.sessions.push((session, account, now, now + lifetime_ms));
                Ok(StaffReply::SessionStarted { account: id(account), expires_at: TimeMs(now + lifetime_ms), evicted: evicted.map(digest) })
            }
            Op::End { session } => {
                let at = self.sessions.iter().position(|s| s.0 == session).ok_or(StaffRejection::UnknownSession)?;
                Ok(StaffReply::SessionEnded { account: id(self.sessions.remove(at).1) })
            }
            Op::EndAll { account } => {
                if account as usize > self.accounts.len() {
                    return Err(StaffRejection::UnknownAccount);
                }
                Ok(StaffReply::SessionsEnded { account: id(account), sessions_ended: self.end_all(account) })
            }
            Op::Wait { .. } => unreachable!(),
        }
    }
}

fn command(now: i64, op: &Op) -> StaffCommand {
    let account = |a: u32| StaffAccountId(a);
    match *op {
        Op::Create { name, roles } => StaffCommand::CreateAccount {
            login: login(&format!("user{name}")),
            display_name: format!("User {name}"),
            password_hash: format!("$argon2id$h{name}"),
            roles: Roles::from_bits(roles).unwrap(),
        },
        Op::Password { account: a } => StaffCommand::ChangePassword { account: account(a), password_hash: "$argon2id$other".into() },
        Op::SetRoles { account: a, roles } => StaffCommand::SetRoles { account: account(a), roles: Roles::from_bits(roles).unwrap() },
        Op::Disable { account: a } => StaffCommand::Disable { account: account(a) },
        Op::Start { account: a, session, lifetime_ms } => {
            StaffCommand::StartSession { account: account(a), session: digest(session), expires_at: TimeMs(now + lifetime_ms) }
        }
        Op::End { session } => StaffCommand::EndSession { session: digest(session) },
        Op::EndAll { account: a } => StaffCommand::EndAllSessions { account: account(a) },
        Op::Wait { .. } => unreachable!(),
    }
}

proptest! {
    #![proptest_config(Config { cases: 64, ..Config::default() })]

    #[test]
    fn random_staff_workloads_match_the_model_keep_invariants_and_replay_identically(ops in proptest::collection::vec(op(), 1..120)) {
        let mut w = World::new();
        let mut model = Model::default();
        let mut now = START;
        for op in &ops {
            if let Op::Wait { ms } = op {
                now += ms;
                continue;
            }
            now += 1;
            let expected = model.expect(now, op);
            let got = w.run(now, command(now, op));
            prop_assert_eq!(&got, &expected, "{:?} at {}", op, now);
            let live: usize = w.tenant.staff().sessions().count();
            prop_assert_eq!(live, model.sessions.len());
        }
        prop_assert_eq!(w.replayed(), w.tenant);
    }
}
