//! The voucher state machine: `Vouchers::apply(ledger, envelope)`.
//!
//! Every command first lets time pass (`now` only moves forward, due cards expire,
//! at most `card_expiries_per_command_max` of them), then runs its handler. A handler
//! checks its rejections in the order written above it, then makes its one ledger
//! transfer (whose own rejection is passed on as `VoucherRejection::Ledger`), and
//! only after that changes voucher state. So a rejected command leaves everything as
//! the time step left it, and replaying every command reproduces the state bit for bit.

use std::collections::{BTreeMap, BTreeSet};

use super::limits::*;
use super::*;
use crate::ledger::{AccountId, AccountKind, Ledger, LedgerCommand, LedgerEnvelope};
use VoucherRejection as R;

/// Top byte of every account and transfer id the voucher domain derives.
const NAMESPACE: u128 = 0x56 << 120;

/// Whether a ledger id (account or transfer) belongs to the voucher domain.
pub fn in_voucher_namespace(id: u128) -> bool {
    id >> 120 == NAMESPACE >> 120
}

/// The ledger account of a card.
pub fn card_account(card: CardId) -> AccountId {
    AccountId(NAMESPACE | 1 << 112 | u128::from(card.0))
}

/// One of a programme's own accounts (clearing, cash, expired value, offline risk).
pub fn programme_account(programme: ProgrammeId, kind: AccountKind) -> AccountId {
    let index = AccountKind::ALL.iter().position(|k| *k == kind).expect("a kind") as u128;
    AccountId(NAMESPACE | 2 << 112 | index << 64 | u128::from(programme.0))
}

/// What the programme owes a merchant.
pub fn payable_account(programme: ProgrammeId, merchant: MerchantId) -> AccountId {
    AccountId(NAMESPACE | 3 << 112 | u128::from(programme.0) << 64 | u128::from(merchant.0))
}

/// The programme's own accounts, opened with the programme.
pub(super) const PROGRAMME_KINDS: [AccountKind; 4] =
    [AccountKind::ProviderClearing, AccountKind::SalesPointCash, AccountKind::ExpiredValue, AccountKind::OfflineRisk];

/// Programmes, merchants, devices, cards and redemptions of one tenant. Compare two
/// with `==`. The balances are in the ledger the tenant keeps beside it.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Vouchers {
    pub(super) now: TimeMs,
    /// The counter behind every transfer id this domain makes (in its namespace).
    pub(super) next_transfer: u64,
    pub(super) programmes: BTreeMap<ProgrammeId, Programme>,
    pub(super) merchants: BTreeMap<MerchantId, Merchant>,
    pub(super) devices: BTreeMap<DeviceId, Device>,
    pub(super) batches: BTreeMap<BatchId, Batch>,
    pub(super) cards: BTreeMap<CardId, Card>,
    pub(super) by_code: BTreeMap<[u8; 32], CardId>,
    /// `(expires_at, card)` of every active or blocked card: expiry pops the earliest.
    pub(super) expiry: BTreeSet<(TimeMs, CardId)>,
    pub(super) redemptions: BTreeMap<RedemptionId, Redemption>,
    /// `(merchant, at, redemption)`: a merchant's redemptions in a time range.
    pub(super) by_merchant: BTreeSet<(MerchantId, TimeMs, RedemptionId)>,
    /// Every booking, in the order made.
    pub(super) bookings: Vec<Booking>,
    /// Allowances, offline redemptions and risk entries (`vouchers/offline.rs`).
    pub(super) offline: super::offline::Offline,
    /// Every settlement, in the order made (`settle.rs`); its id is its place plus one.
    pub(super) settlements: Vec<super::Settlement>,
    /// Each (programme, merchant)'s last settlement, rebuilt on restore.
    pub(super) last_settlement: BTreeMap<(ProgrammeId, MerchantId), super::SettlementId>,
    /// Purchases paid online (`purchase.rs`), by id, and their sessions.
    pub(super) purchases: BTreeMap<super::PurchaseId, super::Purchase>,
    pub(super) purchase_sessions: BTreeMap<(crate::payments::ProviderKind, String), super::PurchaseId>,
}

/// The start (00:00:00 UTC, 1 January) of a year, in ms since the epoch.
pub(super) fn year_start_ms(year: i64) -> i64 {
    // Days from civil (Howard Hinnant), for 1 January: March-based year `year - 1`.
    let y = year - 1;
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = 306; // 1 January is day 306 of the March-based year.
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    // Saturating: only a clock near the end of i64 gets here, and it must not panic.
    (era * 146_097 + doe - 719_468).saturating_mul(86_400_000)
}

/// The UTC year an instant falls in.
pub(super) fn year_of_ms(ms: i64) -> i64 {
    let z = ms.div_euclid(86_400_000) + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let january_or_february = mp >= 10;
    yoe + era * 400 + i64::from(january_or_february)
}

/// Whether `expires_at` is the start of the fourth year after the year of a sale at
/// `now`, in some time zone: see the module documentation.
pub(crate) fn expiry_fits(now: TimeMs, expires_at: TimeMs) -> bool {
    let zone = expiry_zone_offset_ms_max;
    let earliest = year_of_ms(now.0.saturating_sub(zone));
    let latest = year_of_ms(now.0.saturating_add(zone));
    // `abs_diff`, because `expires_at` is client input and may be anywhere in i64.
    (earliest..=latest).any(|year| expires_at.0.abs_diff(year_start_ms(year + 4)) <= zone.unsigned_abs())
}

fn check_name(name: &str) -> Result<(), VoucherRejection> {
    if name.trim().is_empty() || name.len() > voucher_name_bytes_max {
        return Err(R::NameInvalid);
    }
    Ok(())
}

fn check_amount(amount: Cents) -> Result<(), VoucherRejection> {
    if amount.0 <= 0 || amount.0 > crate::ledger::limits::transfer_amount_cents_max {
        return Err(R::AmountInvalid);
    }
    Ok(())
}

fn check_paid_via(paid_via: &PaidVia) -> Result<(), VoucherRejection> {
    match paid_via {
        PaidVia::Provider { reference } if reference.is_empty() || reference.len() > refund_reference_bytes_max => {
            Err(R::ReferenceInvalid)
        }
        _ => Ok(()),
    }
}

impl Vouchers {
    /// Nothing yet, at time zero.
    pub fn new() -> Vouchers {
        Vouchers::default()
    }

    /// Lets time pass to the envelope's time (never backwards), expires due cards,
    /// then runs the command. The only way the voucher state changes.
    pub fn apply(&mut self, ledger: &mut Ledger, envelope: &VoucherEnvelope) -> VoucherOutcome {
        self.now = self.now.max(envelope.time);
        let (cards, value) = self.expire_due(ledger);
        use VoucherCommand as C;
        match &envelope.command {
            C::CreateProgramme { id, name, limits, expiry } => self.create_programme(ledger, *id, name, limits, *expiry),
            C::CreateMerchant { id, name, iban } => self.create_merchant(*id, name, iban),
            C::AcceptMerchant { merchant, programme } => self.accept_merchant(ledger, *merchant, *programme),
            C::RegisterDevice { device, merchant, public_key } => self.register_device(*device, *merchant, *public_key),
            C::RevokeDevice { device } => self.revoke_device(*device),
            C::IssueCards { programme, batch, medium, cards } => self.issue(ledger, *programme, *batch, *medium, cards),
            C::ActivateCard { card, amount, paid_via, expires_at } => {
                self.activate(ledger, *card, *amount, paid_via, *expires_at)
            }
            C::LoadCard { card, amount, paid_via } => self.load(ledger, *card, *amount, paid_via),
            C::Redeem { redemption, card, merchant, device, amount, pin_digest } => {
                self.redeem(ledger, *redemption, *card, *merchant, *device, *amount, *pin_digest)
            }
            C::ReverseRedemption { redemption, merchant } => self.reverse(ledger, *redemption, *merchant),
            C::RefundCard { card, amount, reference } => self.refund(ledger, *card, *amount, reference),
            C::BlockCard { card } => self.block(*card),
            C::MoveBalance { from, to } => self.move_balance(ledger, *from, *to),
            C::ExpireCards => Ok(VoucherReply::CardsExpired { cards, value }),
            C::ConfigureOffline { programme, policy } => self.configure_offline(*programme, *policy),
            C::GrantAllowance { device, programme, amount, expires_at } => {
                self.grant_allowance(ledger, *device, *programme, *amount, *expires_at)
            }
            C::SyncOffline { device, redemptions } => self.sync_offline(ledger, *device, redemptions),
            C::Settle { programme, merchant, from, until } => self.settle(ledger, *programme, *merchant, *from, *until),
            C::StartPurchase { purchase, programme, target, amount, provider, session, email } => {
                self.start_purchase(*purchase, *programme, *target, *amount, *provider, session, email)
            }
            C::PurchaseSucceeded { provider, session, expires_at } => {
                self.purchase_succeeded(ledger, *provider, session, *expires_at)
            }
            C::PurchaseFailed { provider, session, failure } => self.purchase_failed(*provider, session, *failure),
            C::PurchaseRefunded { purchase, reference } => self.purchase_refunded(*purchase, reference),
            C::SetDesign { programme, design } => self.set_design(*programme, design),
        }
    }

    /// Order: the programme exists; the accent is sRGB; the tagline fits and has no
    /// control characters.
    fn set_design(&mut self, programme: ProgrammeId, design: &ProgrammeDesign) -> VoucherOutcome {
        let found = self.programmes.get_mut(&programme).ok_or(R::UnknownProgramme)?;
        if design.accent_rgb > 0x00ff_ffff
            || design.tagline.len() > design_tagline_bytes_max
            || design.tagline.chars().any(char::is_control)
        {
            return Err(R::DesignInvalid);
        }
        found.design = design.clone();
        Ok(VoucherReply::DesignSet { programme })
    }

    // ----- queries -----

    pub fn now(&self) -> TimeMs {
        self.now
    }

    pub fn programme(&self, id: ProgrammeId) -> Option<&Programme> {
        self.programmes.get(&id)
    }

    pub fn programmes(&self) -> impl Iterator<Item = &Programme> {
        self.programmes.values()
    }

    pub fn merchant(&self, id: MerchantId) -> Option<&Merchant> {
        self.merchants.get(&id)
    }

    pub fn device(&self, id: DeviceId) -> Option<&Device> {
        self.devices.get(&id)
    }

    /// Every merchant, by id: the office lists them.
    pub fn merchants(&self) -> impl Iterator<Item = &Merchant> {
        self.merchants.values()
    }

    /// Every device ever registered, revoked ones too, by id.
    pub fn devices(&self) -> impl Iterator<Item = &Device> {
        self.devices.values()
    }

    pub fn batch(&self, id: BatchId) -> Option<&Batch> {
        self.batches.get(&id)
    }

    pub fn card(&self, id: CardId) -> Option<&Card> {
        self.cards.get(&id)
    }

    pub fn cards(&self) -> impl Iterator<Item = &Card> {
        self.cards.values()
    }

    /// The card whose code has this keyed digest.
    pub fn card_by_code(&self, code_digest: &[u8; 32]) -> Option<&Card> {
        self.by_code.get(code_digest).map(|id| &self.cards[id])
    }

    /// A card's balance: its ledger account's. `None` for an unknown card.
    pub fn balance(&self, ledger: &Ledger, card: CardId) -> Option<Cents> {
        self.cards.get(&card)?;
        Some(ledger.account(card_account(card)).expect("every card has its account").balance())
    }

    /// A card's state as of `at`: an active or blocked card past its expiry counts as
    /// expired even before the command that books its value has run.
    pub fn state_at(&self, card: CardId, at: TimeMs) -> Option<CardState> {
        let card = self.cards.get(&card)?;
        let due = card.expires_at.is_some_and(|e| e <= at);
        Some(if due { CardState::Expired } else { card.state })
    }

    pub fn redemption(&self, id: RedemptionId) -> Option<&Redemption> {
        self.redemptions.get(&id)
    }

    /// A merchant's redemptions with `from <= at < until`, by time then id: what a
    /// settlement statement lists.
    pub fn redemptions_of(&self, merchant: MerchantId, from: TimeMs, until: TimeMs) -> impl Iterator<Item = &Redemption> {
        let range = if from < until {
            (merchant, from, RedemptionId(0))..(merchant, until, RedemptionId(0))
        } else {
            (merchant, from, RedemptionId(0))..(merchant, from, RedemptionId(0))
        };
        self.by_merchant.range(range).map(|(_, _, id)| &self.redemptions[id])
    }

    /// What the programme owes card holders: the sum of its cards' balances.
    pub fn liability(&self, ledger: &Ledger, programme: ProgrammeId) -> Cents {
        self.cards
            .values()
            .filter(|c| c.programme == programme)
            .fold(Cents::ZERO, |sum, c| sum.plus(ledger.account(card_account(c.id)).expect("card account").balance()))
    }

    /// Every booking, in the order made.
    pub fn bookings(&self) -> &[Booking] {
        &self.bookings
    }

    /// When the next card falls due, so a runtime knows when a `Tick` is worth sending.
    pub fn next_expiry(&self) -> Option<TimeMs> {
        self.expiry.first().map(|(at, _)| *at)
    }

    // ----- the ledger -----

    pub(super) fn next_transfer_id(&self) -> TransferId {
        TransferId(NAMESPACE | u128::from(self.next_transfer + 1))
    }

    /// Makes the one transfer of a command; on success the counter moves on.
    pub(super) fn transfer(&mut self, ledger: &mut Ledger, debit: AccountId, credit: AccountId, amount: Cents) -> Result<TransferId, VoucherRejection> {
        let id = self.next_transfer_id();
        let command = LedgerCommand::Transfer { id, debit, credit, amount };
        ledger.apply(&LedgerEnvelope { time: self.now, command }).map_err(R::Ledger)?;
        self.next_transfer += 1;
        Ok(id)
    }

    pub(super) fn create_account(&self, ledger: &mut Ledger, id: AccountId, programme: ProgrammeId, kind: AccountKind, ceiling: Option<Cents>) {
        assert!(ledger.account(id).is_none(), "voucher accounts are created once, in their own namespace");
        let command = LedgerCommand::CreateAccount { id, programme, kind, ceiling };
        let reply = ledger.apply(&LedgerEnvelope { time: self.now, command });
        assert!(reply.is_ok(), "capacity and shape were checked before: {reply:?}");
    }

    pub(super) fn book(&mut self, transfer: TransferId, card: CardId, kind: BookingKind, amount: Cents, paid_via: Option<PaidVia>) {
        self.bookings.push(Booking { transfer, card, kind, amount, at: self.now, paid_via });
    }

    pub(super) fn card_balance(ledger: &Ledger, card: CardId) -> Cents {
        ledger.account(card_account(card)).expect("every card has its account").balance()
    }

    // ----- time -----

    /// Books every due card's balance to its programme's expired-value account, at
    /// most `card_expiries_per_command_max` cards; stops early if the ledger's history
    /// is full (the card stays due and is refused as expired meanwhile).
    fn expire_due(&mut self, ledger: &mut Ledger) -> (u32, Cents) {
        let mut cards = 0u32;
        let mut value = Cents::ZERO;
        while let Some(&(at, id)) = self.expiry.first() {
            if at > self.now || cards as usize >= card_expiries_per_command_max {
                break;
            }
            let card = self.cards[&id];
            let balance = Vouchers::card_balance(ledger, id);
            if balance.0 > 0 {
                let expired = programme_account(card.programme, AccountKind::ExpiredValue);
                let Ok(transfer) = self.transfer(ledger, card_account(id), expired, balance) else { break };
                self.book(transfer, id, BookingKind::Expiry, balance, None);
                value = value.plus(balance);
            }
            self.expiry.pop_first();
            self.cards.get_mut(&id).expect("indexed").state = CardState::Expired;
            cards += 1;
        }
        (cards, value)
    }

    // ----- programmes, merchants, devices -----

    /// Order: name; limits (balance max within `1..=card_balance_cents_limit`, load
    /// max and offline cap within `1..=` the balance max, window within
    /// `0..=reversal_window_ms_max`); programme exists; capacity (programmes, ledger
    /// accounts).
    fn create_programme(
        &mut self,
        ledger: &mut Ledger,
        id: ProgrammeId,
        name: &str,
        limits: &ProgrammeLimits,
        expiry: ExpiryRule,
    ) -> VoucherOutcome {
        check_name(name)?;
        let max = limits.card_balance_cents_max.0;
        let within = |c: Cents| (1..=max).contains(&c.0);
        if !(1..=card_balance_cents_limit).contains(&max)
            || !within(limits.load_cents_max)
            || !within(limits.card_offline_cents_max)
            || !(0..=reversal_window_ms_max).contains(&limits.reversal_window_ms)
        {
            return Err(R::LimitsInvalid);
        }
        if self.programmes.contains_key(&id) {
            return Err(R::ProgrammeExists);
        }
        if self.programmes.len() >= tenant_programmes_max
            || ledger.account_count() + PROGRAMME_KINDS.len() > crate::ledger::limits::ledger_accounts_max
        {
            return Err(R::TooManyProgrammes);
        }
        for kind in PROGRAMME_KINDS {
            self.create_account(ledger, programme_account(id, kind), id, kind, None);
        }
        let programme =
            Programme { id, name: name.to_string(), limits: *limits, expiry, created_at: self.now, design: ProgrammeDesign::default() };
        self.programmes.insert(id, programme);
        Ok(VoucherReply::ProgrammeCreated { programme: id })
    }

    /// Order: name; IBAN length and characters (ASCII letters and digits); merchant
    /// exists; capacity.
    fn create_merchant(&mut self, id: MerchantId, name: &str, iban: &str) -> VoucherOutcome {
        check_name(name)?;
        if !(iban_bytes_min..=iban_bytes_max).contains(&iban.len()) || !iban.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(R::IbanInvalid);
        }
        if self.merchants.contains_key(&id) {
            return Err(R::MerchantExists);
        }
        if self.merchants.len() >= tenant_merchants_max {
            return Err(R::TooManyMerchants);
        }
        let merchant = Merchant { id, name: name.to_string(), iban: iban.to_string(), programmes: Vec::new(), created_at: self.now };
        self.merchants.insert(id, merchant);
        Ok(VoucherReply::MerchantCreated { merchant: id })
    }

    /// Order: unknown merchant; unknown programme; already accepted (the same reply
    /// again); ledger account capacity (`too_many_merchants`).
    fn accept_merchant(&mut self, ledger: &mut Ledger, id: MerchantId, programme: ProgrammeId) -> VoucherOutcome {
        let merchant = self.merchants.get(&id).ok_or(R::UnknownMerchant)?;
        if !self.programmes.contains_key(&programme) {
            return Err(R::UnknownProgramme);
        }
        let reply = VoucherReply::MerchantAccepted { merchant: id, programme };
        let Err(at) = merchant.programmes.binary_search(&programme) else { return Ok(reply) };
        if ledger.account_count() >= crate::ledger::limits::ledger_accounts_max {
            return Err(R::TooManyMerchants);
        }
        self.create_account(ledger, payable_account(programme, id), programme, AccountKind::MerchantPayable, None);
        self.merchants.get_mut(&id).expect("checked").programmes.insert(at, programme);
        Ok(reply)
    }

    /// Order: unknown merchant; device exists (identical: the same reply again);
    /// capacity.
    fn register_device(&mut self, id: DeviceId, merchant: MerchantId, public_key: [u8; 32]) -> VoucherOutcome {
        if !self.merchants.contains_key(&merchant) {
            return Err(R::UnknownMerchant);
        }
        if let Some(device) = self.devices.get(&id) {
            if (device.merchant, device.public_key) != (merchant, public_key) {
                return Err(R::DeviceExists);
            }
            return Ok(VoucherReply::DeviceRegistered { device: id });
        }
        if self.devices.len() >= tenant_devices_max {
            return Err(R::TooManyDevices);
        }
        let device = Device { id, merchant, public_key, registered_at: self.now, revoked_at: None };
        self.devices.insert(id, device);
        Ok(VoucherReply::DeviceRegistered { device: id })
    }

    /// Order: unknown device. Revoking a revoked device answers the same again.
    fn revoke_device(&mut self, id: DeviceId) -> VoucherOutcome {
        let now = self.now;
        let device = self.devices.get_mut(&id).ok_or(R::UnknownDevice)?;
        device.revoked_at.get_or_insert(now);
        Ok(VoucherReply::DeviceRevoked { device: id })
    }

    // ----- cards -----

    /// Order: unknown programme; batch size within `1..=batch_cards_max`; batch
    /// exists; each card in order: id 0, id exists (in the tenant or earlier in the
    /// batch), code digest taken (likewise); capacity (cards, ledger accounts).
    pub(super) fn issue(
        &mut self,
        ledger: &mut Ledger,
        programme: ProgrammeId,
        batch: BatchId,
        medium: CardMedium,
        cards: &[NewCard],
    ) -> VoucherOutcome {
        let ceiling = self.programmes.get(&programme).ok_or(R::UnknownProgramme)?.limits.card_balance_cents_max;
        if cards.is_empty() || cards.len() > batch_cards_max {
            return Err(R::BatchSizeInvalid);
        }
        if self.batches.contains_key(&batch) {
            return Err(R::BatchExists);
        }
        let mut ids = BTreeSet::new();
        let mut codes = BTreeSet::new();
        for card in cards {
            if card.id.0 == 0 {
                return Err(R::CardIdInvalid);
            }
            if self.cards.contains_key(&card.id) || !ids.insert(card.id) {
                return Err(R::CardExists);
            }
            if self.by_code.contains_key(&card.code_digest) || !codes.insert(card.code_digest) {
                return Err(R::CodeDigestTaken);
            }
        }
        if self.cards.len() + cards.len() > tenant_cards_max
            || ledger.account_count() + cards.len() > crate::ledger::limits::ledger_accounts_max
        {
            return Err(R::TooManyCards);
        }
        // All checks passed: from here on the command only mutates.
        for new in cards {
            self.create_account(ledger, card_account(new.id), programme, AccountKind::Card, Some(ceiling));
            let card = Card {
                id: new.id,
                programme,
                batch,
                code_digest: new.code_digest,
                pin_digest: new.pin_digest,
                state: CardState::Inactive,
                issued_at: self.now,
                activated_at: None,
                expires_at: None,
                pin_failures: 0,
            };
            self.cards.insert(new.id, card);
            self.by_code.insert(new.code_digest, new.id);
        }
        let count = cards.len() as u32;
        self.batches.insert(batch, Batch { id: batch, programme, medium, issued_at: self.now, cards: count });
        Ok(VoucherReply::CardsIssued { batch, cards: count })
    }

    /// A card that may take value or be redeemed now: active and not yet due.
    pub(super) fn usable(&self, card: &Card) -> Result<(), VoucherRejection> {
        if card.expires_at.is_some_and(|e| e <= self.now) {
            return Err(R::CardExpired);
        }
        match card.state {
            CardState::Active => Ok(()),
            CardState::Inactive => Err(R::CardInactive),
            CardState::Blocked(_) => Err(R::CardBlocked),
            CardState::Expired => Err(R::CardExpired),
        }
    }

    fn source(programme: ProgrammeId, paid_via: &PaidVia) -> AccountId {
        let kind = match paid_via {
            PaidVia::Cash { .. } => AccountKind::SalesPointCash,
            PaidVia::Provider { .. } => AccountKind::ProviderClearing,
        };
        programme_account(programme, kind)
    }

    /// Order: unknown card; amount; over the programme's load max; payment reference;
    /// card not inactive; expiry does not fit the sale; the ledger (clearing or cash →
    /// card; the card's ceiling is the balance max).
    pub(super) fn activate(&mut self, ledger: &mut Ledger, id: CardId, amount: Cents, paid_via: &PaidVia, expires_at: TimeMs) -> VoucherOutcome {
        let card = *self.cards.get(&id).ok_or(R::UnknownCard)?;
        check_amount(amount)?;
        if amount > self.programmes[&card.programme].limits.load_cents_max {
            return Err(R::LoadTooLarge);
        }
        check_paid_via(paid_via)?;
        if card.state != CardState::Inactive {
            return Err(R::CardNotInactive);
        }
        if !expiry_fits(self.now, expires_at) {
            return Err(R::ExpiryInvalid);
        }
        let transfer = self.transfer(ledger, Vouchers::source(card.programme, paid_via), card_account(id), amount)?;
        // The transfer succeeded: the value is on the card, so now it is active.
        self.book(transfer, id, BookingKind::Activation, amount, Some(paid_via.clone()));
        let now = self.now;
        let card = self.cards.get_mut(&id).expect("checked");
        card.state = CardState::Active;
        card.activated_at = Some(now);
        card.expires_at = Some(expires_at);
        self.expiry.insert((expires_at, id));
        Ok(VoucherReply::CardActivated { card: id, balance: amount, expires_at })
    }

    /// Order: unknown card; amount; over the load max; payment reference; card usable
    /// (expired, inactive, blocked); the ledger (the ceiling is the balance max).
    pub(super) fn load(&mut self, ledger: &mut Ledger, id: CardId, amount: Cents, paid_via: &PaidVia) -> VoucherOutcome {
        let card = *self.cards.get(&id).ok_or(R::UnknownCard)?;
        check_amount(amount)?;
        if amount > self.programmes[&card.programme].limits.load_cents_max {
            return Err(R::LoadTooLarge);
        }
        check_paid_via(paid_via)?;
        self.usable(&card)?;
        let transfer = self.transfer(ledger, Vouchers::source(card.programme, paid_via), card_account(id), amount)?;
        self.book(transfer, id, BookingKind::Load, amount, Some(paid_via.clone()));
        Ok(VoucherReply::CardLoaded { card: id, balance: Vouchers::card_balance(ledger, id) })
    }

    /// Order: redemption id 0; amount; unknown card, merchant, device; a known
    /// redemption id (identical: the first reply; else `redemption_id_reused`); the
    /// device is the merchant's; device revoked; merchant accepted in the card's
    /// programme; card usable (expired, inactive, blocked); PIN required; capacity;
    /// then a wrong PIN is recorded (`PinRefused`), else the ledger (card → payable).
    #[allow(clippy::too_many_arguments)]
    fn redeem(
        &mut self,
        ledger: &mut Ledger,
        id: RedemptionId,
        card: CardId,
        merchant: MerchantId,
        device: DeviceId,
        amount: Cents,
        pin_digest: Option<[u8; 32]>,
    ) -> VoucherOutcome {
        if id.0 == 0 {
            return Err(R::RedemptionIdInvalid);
        }
        check_amount(amount)?;
        let card = *self.cards.get(&card).ok_or(R::UnknownCard)?;
        let shop = self.merchants.get(&merchant).ok_or(R::UnknownMerchant)?;
        let till = *self.devices.get(&device).ok_or(R::UnknownDevice)?;
        if let Some(known) = self.redemptions.get(&id) {
            if (known.card, known.merchant, known.device, known.amount) != (card.id, merchant, device, amount) {
                return Err(R::RedemptionIdReused);
            }
            return Ok(VoucherReply::Redeemed { redemption: id, card: card.id, amount, balance: known.balance_after });
        }
        if till.merchant != merchant {
            return Err(R::DeviceNotMerchants);
        }
        if till.revoked_at.is_some() {
            return Err(R::DeviceRevoked);
        }
        if shop.programmes.binary_search(&card.programme).is_err() {
            return Err(R::MerchantNotAccepted);
        }
        self.usable(&card)?;
        if card.pin_digest.is_some() && pin_digest.is_none() {
            return Err(R::PinRequired);
        }
        if self.redemptions.len() >= tenant_redemptions_max {
            return Err(R::TooManyRedemptions);
        }
        if card.pin_digest.is_some() && pin_digest != card.pin_digest {
            let entry = self.cards.get_mut(&card.id).expect("checked");
            entry.pin_failures += 1;
            if entry.pin_failures >= pin_attempts_max {
                entry.state = CardState::Blocked(BlockReason::PinAttempts);
            }
            let attempts_left = pin_attempts_max - entry.pin_failures;
            return Ok(VoucherReply::PinRefused { card: card.id, attempts_left });
        }
        let transfer = self.transfer(ledger, card_account(card.id), payable_account(card.programme, merchant), amount)?;
        self.book(transfer, card.id, BookingKind::Redemption, amount, None);
        self.cards.get_mut(&card.id).expect("checked").pin_failures = 0;
        let balance = Vouchers::card_balance(ledger, card.id);
        let at = self.now;
        let programme = card.programme;
        let record =
            Redemption { id, card: card.id, programme, merchant, device, amount, at, transfer, balance_after: balance, reversal: None };
        self.redemptions.insert(id, record);
        self.by_merchant.insert((merchant, at, id));
        Ok(VoucherReply::Redeemed { redemption: id, card: card.id, amount, balance })
    }

    /// Order: unknown redemption; another merchant's; already reversed (the first
    /// reply again); window closed (`now >= at + reversal_window_ms`); card expired;
    /// the ledger (payable → card; the card's ceiling applies). A blocked card takes
    /// the value back and keeps it for a move or refund.
    fn reverse(&mut self, ledger: &mut Ledger, id: RedemptionId, merchant: MerchantId) -> VoucherOutcome {
        let redemption = *self.redemptions.get(&id).ok_or(R::UnknownRedemption)?;
        if redemption.merchant != merchant {
            return Err(R::RedemptionOfOtherMerchant);
        }
        if let Some(reversal) = redemption.reversal {
            return Ok(VoucherReply::Reversed { redemption: id, amount: redemption.amount, balance: reversal.balance_after });
        }
        let window = self.programmes[&redemption.programme].limits.reversal_window_ms;
        if self.now >= redemption.at.plus_ms(window) {
            return Err(R::ReversalWindowClosed);
        }
        let card = self.cards[&redemption.card];
        if card.state == CardState::Expired || card.expires_at.is_some_and(|e| e <= self.now) {
            return Err(R::CardExpired);
        }
        let payable = payable_account(redemption.programme, merchant);
        let transfer = self.transfer(ledger, payable, card_account(card.id), redemption.amount)?;
        self.book(transfer, card.id, BookingKind::Reversal, redemption.amount, None);
        let balance_after = Vouchers::card_balance(ledger, card.id);
        let reversal = Reversal { at: self.now, transfer, balance_after };
        self.redemptions.get_mut(&id).expect("checked").reversal = Some(reversal);
        Ok(VoucherReply::Reversed { redemption: id, amount: redemption.amount, balance: balance_after })
    }

    /// Order: unknown card; amount; reference; card expired or inactive (a blocked
    /// card may be refunded); the ledger (card → clearing; never below zero).
    fn refund(&mut self, ledger: &mut Ledger, id: CardId, amount: Cents, reference: &str) -> VoucherOutcome {
        let card = *self.cards.get(&id).ok_or(R::UnknownCard)?;
        check_amount(amount)?;
        if reference.is_empty() || reference.len() > refund_reference_bytes_max {
            return Err(R::ReferenceInvalid);
        }
        match self.usable(&card) {
            Ok(()) | Err(R::CardBlocked) => {}
            Err(other) => return Err(other),
        }
        let clearing = programme_account(card.programme, AccountKind::ProviderClearing);
        let transfer = self.transfer(ledger, card_account(id), clearing, amount)?;
        let paid_via = PaidVia::Provider { reference: reference.to_string() };
        self.book(transfer, id, BookingKind::Refund, amount, Some(paid_via));
        Ok(VoucherReply::CardRefunded { card: id, amount, balance: Vouchers::card_balance(ledger, id) })
    }

    /// Order: unknown card; card expired. Blocking a blocked card answers the same
    /// again; an inactive card may be blocked (stolen stock).
    fn block(&mut self, id: CardId) -> VoucherOutcome {
        let card = *self.cards.get(&id).ok_or(R::UnknownCard)?;
        if card.state == CardState::Expired || card.expires_at.is_some_and(|e| e <= self.now) {
            return Err(R::CardExpired);
        }
        if !matches!(card.state, CardState::Blocked(_)) {
            self.cards.get_mut(&id).expect("checked").state = CardState::Blocked(BlockReason::Reported);
        }
        Ok(VoucherReply::CardBlocked { card: id })
    }

    /// Order: unknown `from`; unknown `to`; the same card; programmes differ; `from`
    /// expired; `from` not blocked; `to` usable; nothing to move; the ledger (the
    /// target's ceiling applies).
    fn move_balance(&mut self, ledger: &mut Ledger, from: CardId, to: CardId) -> VoucherOutcome {
        let source = *self.cards.get(&from).ok_or(R::UnknownCard)?;
        let target = *self.cards.get(&to).ok_or(R::UnknownCard)?;
        if from == to {
            return Err(R::CardsSame);
        }
        if source.programme != target.programme {
            return Err(R::ProgrammesDiffer);
        }
        if source.state == CardState::Expired || source.expires_at.is_some_and(|e| e <= self.now) {
            return Err(R::CardExpired);
        }
        if !matches!(source.state, CardState::Blocked(_)) {
            return Err(R::CardNotBlocked);
        }
        self.usable(&target)?;
        let amount = Vouchers::card_balance(ledger, from);
        if amount.0 <= 0 {
            return Err(R::NothingToMove);
        }
        let transfer = self.transfer(ledger, card_account(from), card_account(to), amount)?;
        self.book(transfer, from, BookingKind::MoveOut, amount, None);
        self.book(transfer, to, BookingKind::MoveIn, amount, None);
        Ok(VoucherReply::BalanceMoved { from, to, amount })
    }
}
