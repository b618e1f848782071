//! Staff accounts and their sessions: who may log in to a tenant's office pages
//! (club office, box office, city voucher office, a merchant's till) and with which
//! roles. They live in the tenant's durable state like every sale, so an account or
//! a login survives a crash and a failover exactly as an acknowledged order does.
//!
//! The core never hashes and never draws randomness: the edge hashes the password
//! (an opaque PHC string, e.g. argon2id) and draws the 256-bit session id, of which
//! only the SHA-256 digest arrives here. A session is valid while the tenant's time
//! is before its `expires_at` and its account is enabled; time passing ends due
//! sessions (checked first in every command, like holds), disabling an account or
//! changing its password ends all of them.
//!
//! Handlers check rejections in the order written above each and change nothing
//! before the last check passed, so replay reproduces the same accounts, bit for
//! bit. Domain failures are `StaffRejection` values; a broken invariant is a panic
//! (`check_invariants`, run after every staff command in debug builds).

use std::collections::{BTreeMap, BTreeSet};

use crate::ids::TimeMs;

/// Every limit of the staff domain, named with its unit last.
pub mod limits {
    #![allow(non_upper_case_globals)]

    /// Accounts one tenant may hold: a city's office plus the staff of a few
    /// hundred merchants, with room to spare.
    pub const accounts_per_tenant_max: usize = 10_000;
    /// Live sessions one account may hold (phone, till, office PC...). A new login
    /// beyond this ends the account's oldest session, so a forgotten tablet never
    /// locks a cashier out.
    pub const sessions_per_account_max: usize = 8;
    /// The longest a session may be granted at login.
    pub const session_lifetime_ms_max: i64 = 7 * 24 * 3_600_000;
    pub const login_bytes_min: usize = 2;
    pub const login_bytes_max: usize = 64;
    pub const display_name_bytes_max: usize = crate::limits::name_bytes_max;
    /// A PHC string (`$argon2id$v=19$m=...,t=...,p=...$salt$hash`) is about 100 bytes.
    pub const password_hash_bytes_max: usize = 256;

    const _: () = assert!(login_bytes_min >= 1 && login_bytes_min < login_bytes_max);
    const _: () = assert!(sessions_per_account_max >= 1);
    // Account ids are u32 and dense.
    const _: () = assert!(accounts_per_tenant_max < u32::MAX as usize);
    const _: () = assert!(session_lifetime_ms_max > 0 && session_lifetime_ms_max < i64::MAX / 4);
}

use limits::*;

/// A staff account; sequential per tenant from 1, never reused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct StaffAccountId(pub u32);

/// A login name: 2 to 64 bytes of lowercase ASCII letters, digits, `.`, `-`, `_`,
/// starting with a letter or digit. Lowercase only, so `Kasse` and `kasse` cannot
/// be two accounts; the edge lowercases what people type before parsing.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LoginName(String);

impl LoginName {
    pub fn parse(text: &str) -> Option<LoginName> {
        LoginName::is_valid(text).then(|| LoginName(text.to_string()))
    }

    pub fn is_valid(text: &str) -> bool {
        let bytes = text.as_bytes();
        (login_bytes_min..=login_bytes_max).contains(&bytes.len())
            && bytes[0].is_ascii_alphanumeric()
            && bytes.iter().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'-' | b'_'))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// What a role lets its holder do; roles are per tenant. The office pages check
/// them, the core only stores them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    /// The club's or the city's office head: everything, staff accounts included.
    Admin,
    /// Club office: games, prices, quotas, sale times, orders.
    Office,
    /// Counter sales at the box office.
    BoxOffice,
    /// The city's voucher office: cards, programmes, merchants.
    VoucherOffice,
    /// A merchant's staff redeeming vouchers at the till. Binding the account to
    /// one merchant is for the voucher pages to add (a field on `Account`).
    Merchant,
}

impl Role {
    pub const ALL: [Role; 5] = [Role::Admin, Role::Office, Role::BoxOffice, Role::VoucherOffice, Role::Merchant];

    pub fn code(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Office => "office",
            Role::BoxOffice => "box_office",
            Role::VoucherOffice => "voucher_office",
            Role::Merchant => "merchant",
        }
    }

    pub fn from_code(code: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.code() == code)
    }

    fn bit(self) -> u8 {
        1 << (self as u8)
    }
}

/// A set of roles, one bit each (the bit order is the declaration order of `Role`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Roles(u8);

impl Roles {
    pub const NONE: Roles = Roles(0);

    pub fn of(roles: &[Role]) -> Roles {
        Roles(roles.iter().fold(0, |bits, r| bits | r.bit()))
    }

    /// Only bits of known roles; anything else is `None`.
    pub fn from_bits(bits: u8) -> Option<Roles> {
        let known = Roles::of(&Role::ALL).0;
        (bits & !known == 0).then_some(Roles(bits))
    }

    pub fn bits(self) -> u8 {
        self.0
    }

    pub fn contains(self, role: Role) -> bool {
        self.0 & role.bit() != 0
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    pub fn iter(self) -> impl Iterator<Item = Role> {
        Role::ALL.into_iter().filter(move |r| self.contains(*r))
    }
}

/// The SHA-256 digest of a session id. The id itself (the cookie) never reaches
/// the core or the log, so the log cannot be replayed into a stolen login.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SessionDigest(pub [u8; 32]);

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Account {
    pub id: StaffAccountId,
    pub login: LoginName,
    pub display_name: String,
    /// Opaque to the core: a PHC string the edge produced and will verify.
    pub password_hash: String,
    pub roles: Roles,
    pub created_at: TimeMs,
    pub disabled_at: Option<TimeMs>,
    /// The merchant a `merchant` account acts for: it sees only that merchant's
    /// redemptions and statements. `None`: bound to no merchant.
    pub merchant: Option<crate::vouchers::MerchantId>,
}

impl Account {
    pub fn is_enabled(&self) -> bool {
        self.disabled_at.is_none()
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Session {
    pub digest: SessionDigest,
    pub account: StaffAccountId,
    pub started_at: TimeMs,
    pub expires_at: TimeMs,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StaffCommand {
    CreateAccount { login: LoginName, display_name: String, password_hash: String, roles: Roles },
    /// Ends every session of the account: a reset password must lock out whoever
    /// knew the old one.
    ChangePassword { account: StaffAccountId, password_hash: String },
    SetRoles { account: StaffAccountId, roles: Roles },
    /// Final: the account keeps its name (no one else may take it) and its history.
    Disable { account: StaffAccountId },
    StartSession { account: StaffAccountId, session: SessionDigest, expires_at: TimeMs },
    EndSession { session: SessionDigest },
    EndAllSessions { account: StaffAccountId },
    /// Binds an account to a merchant (or unbinds it with `None`). The edge checks
    /// the merchant exists; merchants are never deleted, so that stays true.
    BindMerchant { account: StaffAccountId, merchant: Option<crate::vouchers::MerchantId> },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StaffReply {
    AccountCreated { account: StaffAccountId },
    PasswordChanged { account: StaffAccountId, sessions_ended: u32 },
    RolesSet { account: StaffAccountId },
    Disabled { account: StaffAccountId, sessions_ended: u32 },
    /// `evicted` is the account's oldest session, ended to stay within
    /// `sessions_per_account_max`.
    SessionStarted { account: StaffAccountId, expires_at: TimeMs, evicted: Option<SessionDigest> },
    SessionEnded { account: StaffAccountId },
    SessionsEnded { account: StaffAccountId, sessions_ended: u32 },
    MerchantBound { account: StaffAccountId },
}

/// Staff rejections, with stable codes (never renamed once released).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StaffRejection {
    LoginInvalid,
    DisplayNameInvalid,
    PasswordHashInvalid,
    RolesEmpty,
    LoginTaken,
    TooManyAccounts,
    UnknownAccount,
    AccountDisabled,
    /// The change would leave the tenant with accounts but no enabled admin.
    LastAdmin,
    SessionExpiryInvalid,
    SessionExists,
    UnknownSession,
}

impl StaffRejection {
    pub fn code(self) -> &'static str {
        use StaffRejection::*;
        match self {
            LoginInvalid => "staff_login_invalid",
            DisplayNameInvalid => "staff_display_name_invalid",
            PasswordHashInvalid => "staff_password_hash_invalid",
            RolesEmpty => "staff_roles_empty",
            LoginTaken => "staff_login_taken",
            TooManyAccounts => "staff_too_many_accounts",
            UnknownAccount => "staff_unknown_account",
            AccountDisabled => "staff_account_disabled",
            LastAdmin => "staff_last_admin",
            SessionExpiryInvalid => "staff_session_expiry_invalid",
            SessionExists => "staff_session_exists",
            UnknownSession => "staff_unknown_session",
        }
    }

    /// A short English sentence for humans; pages translate by `code`.
    pub fn detail(self) -> &'static str {
        use StaffRejection::*;
        match self {
            LoginInvalid => "a login has 2 to 64 characters a-z, 0-9, '.', '-', '_', starting with a letter or digit",
            DisplayNameInvalid => "the display name is empty, too long or has control characters",
            PasswordHashInvalid => "the password hash is not a PHC string",
            RolesEmpty => "an account needs at least one role",
            LoginTaken => "this login is taken (disabled accounts keep theirs)",
            TooManyAccounts => "this organizer has the most staff accounts it may hold",
            UnknownAccount => "no such staff account",
            AccountDisabled => "this staff account is disabled",
            LastAdmin => "the last enabled admin can neither be disabled nor lose the admin role",
            SessionExpiryInvalid => "a session must expire after now and within the longest lifetime",
            SessionExists => "this session id is already in use",
            UnknownSession => "no such session, or it has ended",
        }
    }
}

/// What a snapshot stores: accounts in id order and live sessions in digest order.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct StaffParts {
    pub accounts: Vec<Account>,
    pub sessions: Vec<Session>,
}

/// The staff of one tenant.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Staff {
    now: TimeMs,
    /// `StaffAccountId(n)` lives at index `n - 1`.
    accounts: Vec<Account>,
    by_login: BTreeMap<LoginName, StaffAccountId>,
    sessions: BTreeMap<SessionDigest, Session>,
    /// Live sessions per account, oldest first by (started_at, digest).
    by_account: BTreeMap<StaffAccountId, BTreeSet<(TimeMs, SessionDigest)>>,
    expiry: BTreeSet<(TimeMs, SessionDigest)>,
}

impl Staff {
    pub fn new() -> Staff {
        Staff::default()
    }

    // ----- queries -----

    pub fn account(&self, id: StaffAccountId) -> Option<&Account> {
        self.accounts.get((id.0 as usize).checked_sub(1)?)
    }

    pub fn accounts(&self) -> &[Account] {
        &self.accounts
    }

    pub fn account_by_login(&self, login: &LoginName) -> Option<&Account> {
        self.by_login.get(login).and_then(|id| self.account(*id))
    }

    /// A live session and its account, if the session exists, has not expired by
    /// `at` and its account is enabled. The edge passes its own clock as `at`,
    /// since the tenant's time only moves with commands.
    pub fn valid_session(&self, digest: &SessionDigest, at: TimeMs) -> Option<(&Session, &Account)> {
        let session = self.sessions.get(digest)?;
        let account = self.account(session.account)?;
        (session.expires_at > at.max(self.now) && account.is_enabled()).then_some((session, account))
    }

    pub fn sessions(&self) -> impl Iterator<Item = &Session> {
        self.sessions.values()
    }

    pub fn sessions_of(&self, account: StaffAccountId) -> usize {
        self.by_account.get(&account).map_or(0, BTreeSet::len)
    }

    /// When the next session falls due, so the runtime knows when a tick is worth it.
    pub fn next_expiry(&self) -> Option<TimeMs> {
        self.expiry.first().map(|(at, _)| *at)
    }

    // ----- commands -----

    /// Lets time pass (never backwards) and ends every session that fell due.
    /// Returns how many ended.
    pub fn advance(&mut self, now: TimeMs) -> u32 {
        self.now = self.now.max(now);
        let mut ended = 0;
        while let Some(&(at, digest)) = self.expiry.first() {
            if at > self.now {
                break;
            }
            self.remove_session(digest);
            ended += 1;
        }
        ended
    }

    pub fn apply(&mut self, now: TimeMs, command: &StaffCommand) -> Result<StaffReply, StaffRejection> {
        self.advance(now);
        let reply = match command {
            StaffCommand::CreateAccount { login, display_name, password_hash, roles } => {
                self.create_account(login, display_name, password_hash, *roles)
            }
            StaffCommand::ChangePassword { account, password_hash } => self.change_password(*account, password_hash),
            StaffCommand::SetRoles { account, roles } => self.set_roles(*account, *roles),
            StaffCommand::Disable { account } => self.disable(*account),
            StaffCommand::StartSession { account, session, expires_at } => {
                self.start_session(*account, *session, *expires_at)
            }
            StaffCommand::EndSession { session } => self.end_session(*session),
            StaffCommand::EndAllSessions { account } => {
                self.account(*account).ok_or(StaffRejection::UnknownAccount)?;
                Ok(StaffReply::SessionsEnded { account: *account, sessions_ended: self.end_all(*account) })
            }
            // Order: unknown account; disabled.
            StaffCommand::BindMerchant { account, merchant } => {
                self.enabled(*account)?;
                self.accounts[account.0 as usize - 1].merchant = *merchant;
                Ok(StaffReply::MerchantBound { account: *account })
            }
        };
        if cfg!(debug_assertions) {
            self.check_invariants();
        }
        reply
    }

    /// Order: login malformed; display name empty or too long; hash malformed;
    /// no roles; login taken; tenant full.
    fn create_account(
        &mut self,
        login: &LoginName,
        display_name: &str,
        password_hash: &str,
        roles: Roles,
    ) -> Result<StaffReply, StaffRejection> {
        if !LoginName::is_valid(login.as_str()) {
            return Err(StaffRejection::LoginInvalid);
        }
        check_display_name(display_name)?;
        check_hash(password_hash)?;
        if roles.is_empty() {
            return Err(StaffRejection::RolesEmpty);
        }
        if self.by_login.contains_key(login) {
            return Err(StaffRejection::LoginTaken);
        }
        if self.accounts.len() >= accounts_per_tenant_max {
            return Err(StaffRejection::TooManyAccounts);
        }
        let id = StaffAccountId(self.accounts.len() as u32 + 1);
        self.accounts.push(Account {
            id,
            login: login.clone(),
            display_name: display_name.to_string(),
            password_hash: password_hash.to_string(),
            roles,
            created_at: self.now,
            disabled_at: None,
            merchant: None,
        });
        self.by_login.insert(login.clone(), id);
        Ok(StaffReply::AccountCreated { account: id })
    }

    /// Order: unknown account; disabled; hash malformed.
    fn change_password(&mut self, id: StaffAccountId, password_hash: &str) -> Result<StaffReply, StaffRejection> {
        self.enabled(id)?;
        check_hash(password_hash)?;
        self.accounts[id.0 as usize - 1].password_hash = password_hash.to_string();
        Ok(StaffReply::PasswordChanged { account: id, sessions_ended: self.end_all(id) })
    }

    /// Order: unknown account; disabled; no roles; it would remove the last admin.
    fn set_roles(&mut self, id: StaffAccountId, roles: Roles) -> Result<StaffReply, StaffRejection> {
        let account = self.enabled(id)?;
        if roles.is_empty() {
            return Err(StaffRejection::RolesEmpty);
        }
        if account.roles.contains(Role::Admin) && !roles.contains(Role::Admin) && self.enabled_admins() == 1 {
            return Err(StaffRejection::LastAdmin);
        }
        self.accounts[id.0 as usize - 1].roles = roles;
        Ok(StaffReply::RolesSet { account: id })
    }

    /// Order: unknown account; already disabled; it is the last enabled admin.
    fn disable(&mut self, id: StaffAccountId) -> Result<StaffReply, StaffRejection> {
        let account = self.enabled(id)?;
        if account.roles.contains(Role::Admin) && self.enabled_admins() == 1 {
            return Err(StaffRejection::LastAdmin);
        }
        self.accounts[id.0 as usize - 1].disabled_at = Some(self.now);
        Ok(StaffReply::Disabled { account: id, sessions_ended: self.end_all(id) })
    }

    /// Order: unknown account; disabled; expiry not ahead or too far ahead; digest
    /// already in use. Beyond `sessions_per_account_max` the oldest session ends.
    fn start_session(
        &mut self,
        id: StaffAccountId,
        digest: SessionDigest,
        expires_at: TimeMs,
    ) -> Result<StaffReply, StaffRejection> {
        self.enabled(id)?;
        if expires_at <= self.now || expires_at.0 - self.now.0 > session_lifetime_ms_max {
            return Err(StaffRejection::SessionExpiryInvalid);
        }
        if self.sessions.contains_key(&digest) {
            return Err(StaffRejection::SessionExists);
        }
        let evicted = match self.by_account.get(&id) {
            Some(live) if live.len() >= sessions_per_account_max => live.first().map(|(_, d)| *d),
            _ => None,
        };
        if let Some(oldest) = evicted {
            self.remove_session(oldest);
        }
        let session = Session { digest, account: id, started_at: self.now, expires_at };
        self.sessions.insert(digest, session);
        self.by_account.entry(id).or_default().insert((self.now, digest));
        self.expiry.insert((expires_at, digest));
        Ok(StaffReply::SessionStarted { account: id, expires_at, evicted })
    }

    /// Order: unknown (or already ended) session.
    fn end_session(&mut self, digest: SessionDigest) -> Result<StaffReply, StaffRejection> {
        let account = self.sessions.get(&digest).ok_or(StaffRejection::UnknownSession)?.account;
        self.remove_session(digest);
        Ok(StaffReply::SessionEnded { account })
    }

    // ----- helpers -----

    fn enabled(&self, id: StaffAccountId) -> Result<&Account, StaffRejection> {
        let account = self.account(id).ok_or(StaffRejection::UnknownAccount)?;
        if !account.is_enabled() {
            return Err(StaffRejection::AccountDisabled);
        }
        Ok(account)
    }

    fn enabled_admins(&self) -> usize {
        self.accounts.iter().filter(|a| a.is_enabled() && a.roles.contains(Role::Admin)).count()
    }

    fn end_all(&mut self, id: StaffAccountId) -> u32 {
        let digests: Vec<SessionDigest> =
            self.by_account.get(&id).map(|live| live.iter().map(|(_, d)| *d).collect()).unwrap_or_default();
        for digest in &digests {
            self.remove_session(*digest);
        }
        digests.len() as u32
    }

    fn remove_session(&mut self, digest: SessionDigest) {
        let session = self.sessions.remove(&digest).expect("indexed sessions are live");
        assert!(self.expiry.remove(&(session.expires_at, digest)), "a live session is in the expiry index");
        let live = self.by_account.get_mut(&session.account).expect("a live session's account is indexed");
        assert!(live.remove(&(session.started_at, digest)), "a live session is in its account's index");
        if live.is_empty() {
            self.by_account.remove(&session.account);
        }
    }

    // ----- snapshots and invariants -----

    pub fn parts(&self) -> StaffParts {
        StaffParts { accounts: self.accounts.clone(), sessions: self.sessions.values().copied().collect() }
    }

    /// Rebuilds the indexes from snapshot parts at the tenant's time and checks
    /// every invariant, so a snapshot that decodes but lies is refused.
    pub fn restore(parts: StaffParts, now: TimeMs) -> Result<Staff, String> {
        let mut staff = Staff { now, ..Staff::default() };
        for account in parts.accounts {
            if account.id.0 as usize != staff.accounts.len() + 1 {
                return Err("staff accounts must be dense and in id order".into());
            }
            if staff.by_login.insert(account.login.clone(), account.id).is_some() {
                return Err(format!("login {} used twice", account.login.as_str()));
            }
            staff.accounts.push(account);
        }
        for session in parts.sessions {
            if staff.sessions.insert(session.digest, session).is_some() {
                return Err("a session digest appears twice".into());
            }
            staff.by_account.entry(session.account).or_default().insert((session.started_at, session.digest));
            staff.expiry.insert((session.expires_at, session.digest));
        }
        staff.check_invariants_result()?;
        Ok(staff)
    }

    pub fn check_invariants(&self) {
        if let Err(why) = self.check_invariants_result() {
            panic!("staff invariant broken: {why}");
        }
    }

    /// Recounts from first principles: dense ids, one account per login, every
    /// field within its limits, every live session indexed three ways, belonging
    /// to an enabled account, not yet due and within the per-account bound.
    pub fn check_invariants_result(&self) -> Result<(), String> {
        if self.accounts.len() > accounts_per_tenant_max || self.by_login.len() != self.accounts.len() {
            return Err("account count or login index".into());
        }
        for (i, account) in self.accounts.iter().enumerate() {
            let valid = account.id.0 as usize == i + 1
                && LoginName::is_valid(account.login.as_str())
                && self.by_login.get(&account.login) == Some(&account.id)
                && check_display_name(&account.display_name).is_ok()
                && check_hash(&account.password_hash).is_ok()
                && !account.roles.is_empty()
                && Roles::from_bits(account.roles.bits()).is_some();
            if !valid {
                return Err(format!("account {} is malformed or not indexed", account.id.0));
            }
        }
        let mut per_account: BTreeMap<StaffAccountId, BTreeSet<(TimeMs, SessionDigest)>> = BTreeMap::new();
        let mut expiry = BTreeSet::new();
        for (digest, session) in &self.sessions {
            let account = self.account(session.account).ok_or("a session of a missing account")?;
            if session.digest != *digest || !account.is_enabled() || session.expires_at <= self.now {
                return Err(format!("session of account {} is stale or misfiled", session.account.0));
            }
            if session.started_at > self.now || session.expires_at.0 - session.started_at.0 > session_lifetime_ms_max {
                return Err("a session's lifetime is out of bounds".into());
            }
            per_account.entry(session.account).or_default().insert((session.started_at, *digest));
            expiry.insert((session.expires_at, *digest));
        }
        if per_account != self.by_account || expiry != self.expiry {
            return Err("session indexes differ from the sessions".into());
        }
        if per_account.values().any(|live| live.len() > sessions_per_account_max) {
            return Err("an account over its session bound".into());
        }
        Ok(())
    }
}

fn check_display_name(name: &str) -> Result<(), StaffRejection> {
    let ok = !name.trim().is_empty() && name.len() <= display_name_bytes_max && !name.chars().any(char::is_control);
    if ok { Ok(()) } else { Err(StaffRejection::DisplayNameInvalid) }
}

/// The core cannot check a hash, only that it looks like a PHC string: `$`, an
/// algorithm id, printable ASCII, bounded.
fn check_hash(hash: &str) -> Result<(), StaffRejection> {
    let ok = hash.len() > 2
        && hash.len() <= password_hash_bytes_max
        && hash.starts_with('$')
        && hash.bytes().all(|b| b.is_ascii_graphic());
    if ok { Ok(()) } else { Err(StaffRejection::PasswordHashInvalid) }
}
