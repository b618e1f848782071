//! The demo club's data: a 6,000-place arena and its games. Shared by `sturmfest
//! demo`, the benchmarks and the tests, so they all measure the same venue.

use jiff::Zoned;
use sturmfest_core as core;

pub const club_name: &str = "EC Sturmvögel Nordstadt";
pub const arena_name: &str = "Eisarena am Stadtpark";
const block_rows_count: u32 = 15;
const row_seats_count: u32 = 25;
const blocks_count: u32 = 8;
const terrace_capacity: u32 = 1_500;
const _: () = assert!(blocks_count * block_rows_count * row_seats_count + 2 * terrace_capacity == 6_000);

pub fn arena() -> core::VenueSpec {
    // Blocks A-D face the rink from the north, E-H from the south; row 1 is at the ice.
    let blocks = (0..blocks_count)
        .map(|b| {
            let north = b < 4;
            let x0 = (b % 4) as i32 * (row_seats_count as i32 * 10 + 40);
            let rows = (0..block_rows_count)
                .map(|r| {
                    let y = if north { 200 - r as i32 * 12 } else { 420 + r as i32 * 12 };
                    core::RowSpec {
                        label: (r + 1).to_string(),
                        seats: (0..row_seats_count)
                            .map(|s| core::SeatSpec { label: (s + 1).to_string(), x: x0 + s as i32 * 10, y })
                            .collect(),
                    }
                })
                .collect();
            core::BlockSpec { name: char::from(b'A' + b as u8).to_string(), rows }
        })
        .collect();
    core::VenueSpec {
        name: arena_name.to_string(),
        blocks,
        standing: vec![
            core::StandingSpec { name: "Stehplatz Nord".into(), capacity: terrace_capacity },
            core::StandingSpec { name: "Stehplatz Süd".into(), capacity: terrace_capacity },
        ],
    }
}

fn tariffs(adult: i64, reduced: i64) -> Vec<core::TariffSpec> {
    vec![
        core::TariffSpec { name: "Erwachsene".into(), price: core::Cents(adult) },
        core::TariffSpec { name: "Ermäßigt".into(), price: core::Cents(reduced) },
    ]
}

pub fn game(venue: core::VenueId, name: &str, starts: &Zoned, opens: &Zoned) -> core::EventSpec {
    let blocks = |ids: &[u16]| core::CategoryPlaces::Blocks(ids.iter().copied().map(core::BlockId).collect());
    core::EventSpec {
        name: name.to_string(),
        venue,
        starts_at: core::TimeMs(starts.timestamp().as_millisecond()),
        sale_opens_at: core::TimeMs(opens.timestamp().as_millisecond()),
        sale_closes_at: core::TimeMs(starts.timestamp().as_millisecond()),
        categories: vec![
            core::CategorySpec { name: "Sitzplatz Mitte".into(), places: blocks(&[1, 2, 5, 6]), tariffs: tariffs(3200, 2400) },
            core::CategorySpec { name: "Sitzplatz Ecke".into(), places: blocks(&[0, 3, 4, 7]), tariffs: tariffs(2700, 1950) },
            core::CategorySpec {
                name: "Stehplatz Nord".into(),
                places: core::CategoryPlaces::Standing(core::AreaId(0)),
                tariffs: tariffs(1600, 1200),
            },
            core::CategorySpec {
                name: "Stehplatz Süd".into(),
                places: core::CategoryPlaces::Standing(core::AreaId(1)),
                tariffs: tariffs(1600, 1200),
            },
        ],
        quotas: [None, Some(800), Some(300)],
        hold_duration_ms: 10 * 60 * 1000,
        order_tickets_max: 8,
        customer_tickets_max: 8,
    }
}


/// The demo's staff logins: (login, display name, password, roles). The passwords
/// are printed by `sturmfest demo` and written here in the open — demo only; a real
/// tenant's first admin is created with its API token (`POST /staff/accounts`).
pub const demo_staff: [(&str, &str, &str, &[sturmfest_core::staff::Role]); 2] = [
    ("kasse", "Kasse 1 (Demo)", "kasse-demo-2026", &[sturmfest_core::staff::Role::BoxOffice]),
    ("office", "Geschäftsstelle (Demo)", "office-demo-2026", &[sturmfest_core::staff::Role::Admin]),
];

/// Creates the demo's staff accounts on a tenant that has none yet; returns how
/// many it created.
pub async fn create_demo_staff(shard: &crate::runtime::Shard) -> Result<usize, String> {
    if !shard.read(|t| t.staff().accounts().is_empty()).await.map_err(|e| e.to_string())? {
        return Ok(0);
    }
    Ok(create_staff_accounts(shard, &demo_staff).await?.len())
}

/// A demo login: (login, display name, password, roles).
pub type DemoLogin = (&'static str, &'static str, &'static str, &'static [sturmfest_core::staff::Role]);

/// Creates these accounts (argon2id hashes of the public demo passwords) and
/// returns their ids in order. Shared by the club and the demo city.
pub async fn create_staff_accounts(
    shard: &crate::runtime::Shard,
    logins: &[DemoLogin],
) -> Result<Vec<sturmfest_core::staff::StaffAccountId>, String> {
    use sturmfest_core::staff::{LoginName, Roles, StaffCommand, StaffReply};
    let mut ids = Vec::new();
    for (login, display_name, password, roles) in logins.iter().copied() {
        let password_hash = crate::staff::hash_password(password.to_string()).await.map_err(|p| p.detail)?;
        let command = StaffCommand::CreateAccount {
            login: LoginName::parse(login).expect("a valid demo login"),
            display_name: display_name.to_string(),
            password_hash,
            roles: Roles::of(roles),
        };
        match shard.execute(None, core::Command::Staff(command)).await.map_err(|e| e.to_string())? {
            Ok(core::Reply::Staff(StaffReply::AccountCreated { account })) => ids.push(account),
            Ok(other) => return Err(format!("demo staff account {login}: unexpected reply {other:?}")),
            Err(rejection) => return Err(format!("demo staff account {login}: {}", rejection.detail())),
        }
    }
    Ok(ids)
}
