//! The demo city: *Stadt Nordstadt* (slug `nordstadt`) with its city voucher, so a
//! newcomer running `sturmfest demo` sees vouchers next to the ice hockey club.
//!
//! Set up once, through core commands on the city's shard as the club's games are:
//! the programme *Nordstadt-Gutschein* and a regional one, four shops (one, the
//! café, accepted in both), a till per shop, an offline policy, a printed batch of
//! cards of which some are sold and partly spent, and two staff logins — the voucher
//! office and the café's till.
//!
//! Card codes exist only where a batch is issued (the log keeps their digests). A
//! demo must still be able to print a few codes on every start, so its codes come
//! from a fixed, public seed: **anyone can compute them; demo only**. The same holds
//! for the tills' keys and the staff passwords below.

use rand::SeedableRng;
use rand::rngs::StdRng;
use sturmfest_core as core;
use sturmfest_core::ledger::{DeviceId, ProgrammeId};
use sturmfest_core::staff::{Role, StaffCommand};
use sturmfest_core::vouchers::*;
use sturmfest_core::{Cents, TimeMs};

use crate::demo::DemoLogin;
use crate::http::TenantHandle;
use crate::vouchers::codes::CardCode;

pub const city_slug: &str = "nordstadt";
pub const city_name: &str = "Stadt Nordstadt";
pub const programme_name: &str = "Nordstadt-Gutschein";
pub const region_programme_name: &str = "Nordland-Regiogutschein";
/// The public seed of the demo's card codes and till keys.
const demo_seed: u64 = 0x5354_5552_4d46_4553;

const city: ProgrammeId = ProgrammeId(1);
const region: ProgrammeId = ProgrammeId(2);
const cafe: MerchantId = MerchantId(2);

/// (id, name, IBAN with a valid mod-97 check, also in the regional programme).
const merchants: [(u32, &str, &str, bool); 4] = [
    (1, "Buchhandlung am Markt", "DE34200505501234567890", false),
    (2, "Café Lindenblüte", "DE62370400440532013001", true),
    (3, "Fahrradladen Speiche", "DE29100100100987654321", false),
    (4, "Hofladen Grünfeld", "DE09250500001122334455", false),
];

/// The city's printed batch and the regional one: (programme, batch, first card id, count).
const batches: [(ProgrammeId, u32, u64, u64); 2] = [(city, 1, 1, 12), (region, 2, 101, 4)];

/// Sales: (card, euros in cents). Loads: (card, cents). Redemptions: (card, merchant, cents).
const sales: [(u64, i64); 7] = [(1, 5_000), (2, 2_500), (3, 10_000), (4, 3_000), (5, 2_000), (6, 7_500), (101, 4_000)];
const loads: [(u64, i64); 1] = [(2, 1_000)];
const redemptions: [(u64, u32, i64); 5] = [(1, 2, 1_280), (3, 1, 4_150), (4, 3, 3_000), (6, 4, 990), (101, 2, 1_500)];

/// The cards whose codes the welcome text prints: sold and partly spent, or full.
pub const shown_cards: [u64; 3] = [1, 2, 101];

/// DEMO ONLY, printed and in the source like the club's.
pub const city_staff: [DemoLogin; 2] = [
    ("buero", "Gutscheinbüro (Demo)", "buero-demo-2026", &[Role::VoucherOffice]),
    ("laden", "Café Lindenblüte, Kasse (Demo)", "laden-demo-2026", &[Role::Merchant]),
];

/// Every demo card's id and code, the same on every start.
fn cards() -> Vec<(CardId, ProgrammeId, CardCode)> {
    let mut rng = StdRng::seed_from_u64(demo_seed);
    let mut out = Vec::new();
    for (programme, _, first, count) in batches {
        for id in first..first + count {
            out.push((CardId(id), programme, CardCode::generate(&mut rng)));
        }
    }
    out
}

fn device_key(merchant: u32) -> [u8; 32] {
    let mut seed = [0u8; 32];
    seed[..8].copy_from_slice(&demo_seed.to_le_bytes());
    seed[8..12].copy_from_slice(&merchant.to_le_bytes());
    ed25519_dalek::SigningKey::from_bytes(&seed).verifying_key().to_bytes()
}

async fn exec(handle: &TenantHandle, command: VoucherCommand) -> Result<core::Reply, String> {
    match handle.shard.execute(None, core::Command::Voucher(command)).await.map_err(|e| e.to_string())? {
        Ok(reply) => Ok(reply),
        Err(rejection) => Err(format!("demo city set-up rejected: {}", rejection.detail())),
    }
}

/// Sets the city up unless it has programmes already; true if it did.
pub async fn set_up(handle: &TenantHandle) -> Result<bool, String> {
    if handle.shard.read(|t| t.vouchers().programmes().next().is_some()).await.map_err(|e| e.to_string())? {
        return Ok(false);
    }
    let limits = ProgrammeLimits {
        card_balance_cents_max: Cents(25_000),
        load_cents_max: Cents(25_000),
        card_offline_cents_max: Cents(5_000),
        reversal_window_ms: 30 * 60 * 1000,
    };
    let looks = [(0x1d6b35, "Gilt in allen teilnehmenden Geschäften der Innenstadt"), (0x0b5394, "Gilt in Nordstadt und im Umland")];
    for ((id, name), (accent_rgb, tagline)) in [(city, programme_name), (region, region_programme_name)].into_iter().zip(looks) {
        exec(handle, VoucherCommand::CreateProgramme { id, name: name.into(), limits, expiry: ExpiryRule::EndOfThirdYearAfterSale }).await?;
        let design = sturmfest_core::vouchers::ProgrammeDesign { accent_rgb, tagline: tagline.into() };
        exec(handle, VoucherCommand::SetDesign { programme: id, design }).await?;
    }
    let policy = OfflinePolicy { device_allowance_cents_max: Cents(10_000), open_allowances_cents_max: Cents(50_000) };
    exec(handle, VoucherCommand::ConfigureOffline { programme: city, policy }).await?;
    for (id, name, iban, in_region) in merchants {
        let merchant = MerchantId(id);
        exec(handle, VoucherCommand::CreateMerchant { id: merchant, name: name.into(), iban: iban.into() }).await?;
        exec(handle, VoucherCommand::AcceptMerchant { merchant, programme: city }).await?;
        if in_region {
            exec(handle, VoucherCommand::AcceptMerchant { merchant, programme: region }).await?;
        }
        let device = DeviceId(u64::from(id));
        exec(handle, VoucherCommand::RegisterDevice { device, merchant, public_key: device_key(id) }).await?;
    }
    let key = crate::http::vouchers::code_key(handle);
    let all = cards();
    for (programme, batch, _, _) in batches {
        let cards = all
            .iter()
            .filter(|(_, p, _)| *p == programme)
            .map(|(id, _, code)| NewCard { id: *id, code_digest: key.code_digest(code), pin_digest: None })
            .collect();
        exec(handle, VoucherCommand::IssueCards { programme, batch: BatchId(batch), medium: CardMedium::Printed, cards }).await?;
    }
    let expires_at = crate::vouchers::card_expires_at(TimeMs(crate::runtime::wall_clock_ms()));
    let counter = PaidVia::Cash { sales_point: SalesPointId(1) };
    for (card, cents) in sales {
        exec(handle, VoucherCommand::ActivateCard { card: CardId(card), amount: Cents(cents), paid_via: counter.clone(), expires_at }).await?;
    }
    for (card, cents) in loads {
        exec(handle, VoucherCommand::LoadCard { card: CardId(card), amount: Cents(cents), paid_via: counter.clone() }).await?;
    }
    for (n, (card, merchant, cents)) in redemptions.into_iter().enumerate() {
        let command = VoucherCommand::Redeem {
            redemption: RedemptionId(n as u128 + 1),
            card: CardId(card),
            merchant: MerchantId(merchant),
            device: DeviceId(u64::from(merchant)),
            amount: Cents(cents),
            pin_digest: None,
        };
        exec(handle, command).await?;
    }
    Ok(true)
}

/// Creates the city's staff logins on a city without any, the till's bound to the café.
pub async fn create_staff(handle: &TenantHandle) -> Result<usize, String> {
    if !handle.shard.read(|t| t.staff().accounts().is_empty()).await.map_err(|e| e.to_string())? {
        return Ok(0);
    }
    let ids = crate::demo::create_staff_accounts(&handle.shard, &city_staff).await?;
    let command = StaffCommand::BindMerchant { account: ids[1], merchant: Some(cafe) };
    match handle.shard.execute(None, core::Command::Staff(command)).await.map_err(|e| e.to_string())? {
        Ok(_) => Ok(ids.len()),
        Err(rejection) => Err(format!("demo till login: {}", rejection.detail())),
    }
}

/// A card the welcome text shows: its code and what it holds now.
pub struct ShownCard {
    pub code: String,
    pub programme: String,
    pub balance: Cents,
}

pub async fn shown(handle: &TenantHandle) -> Result<Vec<ShownCard>, String> {
    let codes: Vec<(CardId, String)> =
        cards().into_iter().filter(|(id, _, _)| shown_cards.contains(&id.0)).map(|(id, _, code)| (id, code.grouped())).collect();
    handle
        .shard
        .read(move |t| {
            let v = t.vouchers();
            codes
                .into_iter()
                .filter_map(|(id, code)| {
                    let card = v.card(id)?;
                    let programme = v.programmes().find(|p| p.id == card.programme)?.name.clone();
                    Some(ShownCard { code, programme, balance: v.balance(t.ledger(), id)? })
                })
                .collect()
        })
        .await
        .map_err(|e| e.to_string())
}
