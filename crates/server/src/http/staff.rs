//! The staff API: the bootstrap path for accounts. The tenant's admin API token
//! creates staff accounts (the first admin above all, before anyone can log in to
//! the accounts page); everything else staff do goes through the staff pages and
//! their sessions.

use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use sturmfest_core as core;
use sturmfest_core::staff::{LoginName, Role, Roles, StaffCommand, StaffReply};
use utoipa::ToSchema;

use crate::http::AppState;
use crate::http::extract::*;
use crate::http::handlers::{ApiResult, admin, admin_scope, idem, json, run};
use crate::http::problem::Problem;

#[derive(Debug, Deserialize, ToSchema)]
pub struct StaffAccountIn {
    /// 2–64 characters `a–z 0–9 . - _`, starting with a letter or digit; sent
    /// in any case, stored lowercase.
    pub login: String,
    pub display_name: String,
    /// 10 to 1,024 bytes; stored only as an argon2id hash.
    pub password: String,
    /// Any of `admin`, `office`, `box_office`, `voucher_office`, `merchant`.
    pub roles: Vec<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct StaffAccountOut {
    pub id: u32,
    pub login: String,
    pub roles: Vec<&'static str>,
}

#[utoipa::path(post, path = "/api/v1/{tenant}/staff/accounts", tag = "admin",
    params(("tenant" = String, Path)), request_body = StaffAccountIn,
    responses((status = 201, body = StaffAccountOut), (status = "4XX", description = "problem+json")))]
pub async fn create_staff_account(
    State(state): State<AppState>,
    PathParams(slug): PathParams<String>,
    bearer: Bearer,
    key: IdempotencyKey,
    body: JsonBody<StaffAccountIn>,
) -> ApiResult {
    let handle = admin(&state, &slug, &bearer)?;
    let input = body.value;
    let login = LoginName::parse(&input.login.trim().to_lowercase()).ok_or_else(|| {
        Problem::unprocessable("staff_login_invalid", "a login has 2 to 64 characters: a-z, 0-9, '.', '-', '_', starting with a letter or digit")
    })?;
    let mut roles = Vec::with_capacity(input.roles.len());
    for code in &input.roles {
        roles.push(Role::from_code(code).ok_or_else(|| Problem::unprocessable("staff_role_unknown", format!("no role named {code:?}")))?);
    }
    crate::staff::check_new_password(&input.password).map_err(|why| Problem::unprocessable("staff_password_invalid", why))?;
    let roles = Roles::of(&roles);
    let password_hash = crate::staff::hash_password(input.password).await?;
    let command = StaffCommand::CreateAccount { login: login.clone(), display_name: input.display_name.trim().to_string(), password_hash, roles };
    let reply = run(handle, idem(&admin_scope(&bearer), &key, body.fingerprint), core::Command::Staff(command)).await?;
    let core::Reply::Staff(StaffReply::AccountCreated { account }) = reply else {
        tracing::error!(?reply, "the core answered with an unexpected reply kind");
        return Err(Problem::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "Internal error", "an internal error occurred"));
    };
    let out = StaffAccountOut { id: account.0, login: login.as_str().to_string(), roles: roles.iter().map(Role::code).collect() };
    Ok(json(StatusCode::CREATED, &out))
}
