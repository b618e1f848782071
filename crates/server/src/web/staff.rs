//! The staff pages: login, the staff home (who is logged in, with which roles,
//! and the areas those roles open) and, for admins, the accounts page. Forms post
//! back and answer with a redirect (post/redirect/get), so a reload never sends a
//! form twice; every form but the login carries the session's CSRF token
//! (`staff.rs`). The pages decide nothing themselves: accounts and sessions are
//! core commands written through the tenant's writer.

use askama::Template;
use axum::Form;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use sturmfest_core as core;
use sturmfest_core::staff::{LoginName, Role, Roles, StaffAccountId, StaffCommand};

use super::format::date_time;
use super::i18n::{Lang, StaffTexts, Texts};
use super::{LangQuery, html, not_found};
use crate::http::AppState;
use crate::http::extract::PathParams;
use crate::http::room::ClientIp;
use crate::staff::{LoginError, StaffSession, check_new_password, clear_cookie, hash_password, set_cookie};

#[derive(Template)]
#[template(path = "staff_login.html")]
struct LoginPage<'a> {
    lang: Lang,
    t: &'static Texts,
    s: &'static StaffTexts,
    organizer: &'a str,
    slug: &'a str,
    login: String,
    error: Option<&'static str>,
}

pub struct Area {
    pub name: &'static str,
    /// `None` for an area whose pages are not built yet.
    pub href: Option<String>,
}

#[derive(Template)]
#[template(path = "staff_home.html")]
struct HomePage<'a> {
    lang: Lang,
    t: &'static Texts,
    s: &'static StaffTexts,
    organizer: &'a str,
    slug: &'a str,
    login: &'a str,
    display_name: &'a str,
    roles: String,
    expires: String,
    csrf: String,
    areas: Vec<Area>,
}

pub struct AccountRow {
    pub id: u32,
    pub login: String,
    pub display_name: String,
    pub roles: String,
    /// (form field suffix, label, held) for the account's role checkboxes.
    pub role_boxes: Vec<(&'static str, &'static str, bool)>,
    pub enabled: bool,
    pub sessions: usize,
}

#[derive(Template)]
#[template(path = "staff_accounts.html")]
struct AccountsPage<'a> {
    lang: Lang,
    t: &'static Texts,
    s: &'static StaffTexts,
    organizer: &'a str,
    slug: &'a str,
    csrf: String,
    accounts: Vec<AccountRow>,
    /// (form field suffix, label) for every role checkbox.
    roles: Vec<(&'static str, &'static str)>,
    ok: Option<&'static str>,
    error: Option<&'static str>,
}

fn role_list(roles: Roles, s: &StaffTexts) -> String {
    roles.iter().map(|r| s.role(r)).collect::<Vec<_>>().join(", ")
}

fn see_other(to: String) -> Response {
    (StatusCode::SEE_OTHER, [(header::LOCATION, to)]).into_response()
}

fn with_status(mut response: Response, status: StatusCode) -> Response {
    *response.status_mut() = status;
    response
}

// ----- login and logout -----

pub async fn login_page(
    State(state): State<AppState>,
    PathParams(slug): PathParams<String>,
    Query(query): Query<LangQuery>,
    headers: HeaderMap,
) -> Response {
    let lang = Lang::negotiate(query.lang.as_deref(), &headers);
    let Some(handle) = state.tenants.get(&slug) else { return not_found(lang, &headers) };
    let page = LoginPage { lang, t: lang.texts(), s: lang.staff(), organizer: &handle.name, slug: &slug, login: String::new(), error: None };
    html(&page, lang)
}

#[derive(Deserialize, Default)]
pub struct LoginForm {
    #[serde(default)]
    login: String,
    #[serde(default)]
    password: String,
}

/// 303 to the staff home with a fresh session cookie; 401 with the form again on
/// a wrong login (the same answer for unknown, disabled and wrong password); 429
/// with `Retry-After` beyond the login or address limit; 403 `csrf_invalid` when
/// the browser says the form came from another site.
pub async fn login_submit(
    State(state): State<AppState>,
    PathParams(slug): PathParams<String>,
    Query(query): Query<LangQuery>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Response {
    let lang = Lang::negotiate(query.lang.as_deref(), &headers);
    let Some(handle) = state.tenants.get(&slug) else { return not_found(lang, &headers) };
    let s = lang.staff();
    if !crate::staff::origin_allowed(&headers, &handle.staff.config.base_origin) {
        return crate::staff::Denied::CsrfInvalid.respond(&slug, &headers);
    }
    let (status, error, retry) = match crate::staff::login(handle, &form.login, &form.password, ip).await {
        Ok(started) => {
            let mut response = see_other(format!("/{slug}/staff?lang={}", lang.code()));
            response.headers_mut().insert(header::SET_COOKIE, set_cookie(&slug, &started.id, &handle.staff.config));
            return response;
        }
        Err(LoginError::Failed) => (StatusCode::UNAUTHORIZED, s.login_failed, None),
        Err(LoginError::RateLimited(wait)) => (StatusCode::TOO_MANY_REQUESTS, s.rate_limited, Some(wait.secs())),
        Err(LoginError::Other(problem)) => return problem.into_response(),
    };
    let login = form.login.trim().to_lowercase();
    let page = LoginPage { lang, t: lang.texts(), s, organizer: &handle.name, slug: &slug, login, error: Some(error) };
    let mut response = with_status(html(&page, lang), status);
    if let Some(secs) = retry {
        response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    response
}

#[derive(Deserialize, Default)]
pub struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

pub async fn logout(staff: StaffSession, Query(query): Query<LangQuery>, headers: HeaderMap, Form(form): Form<CsrfForm>) -> Response {
    let lang = Lang::negotiate(query.lang.as_deref(), &headers);
    if let Err(denied) = staff.check_csrf(&form.csrf) {
        return denied.respond(&staff.slug, &headers);
    }
    if let Err(problem) = crate::staff::logout(&staff).await {
        return problem.into_response();
    }
    let mut response = see_other(format!("/{}/staff/login?lang={}", staff.slug, lang.code()));
    response.headers_mut().insert(header::SET_COOKIE, clear_cookie(&staff.slug, &staff.handle.staff.config));
    response
}

// ----- the staff home -----

/// The areas a role set opens, in a fixed order; areas without pages yet are
/// listed as plain text so staff see what their account will reach.
fn areas(staff: &StaffSession, s: &StaffTexts, lang: Lang) -> Vec<Area> {
    let slug = &staff.slug;
    let mut areas = Vec::new();
    let mut add = |role: Role, name: &'static str, href: Option<String>| {
        if staff.may(role) {
            areas.push(Area { name, href });
        }
    };
    add(Role::Office, s.area_office, Some(format!("/{slug}/office?lang={}", lang.code())));
    add(Role::BoxOffice, s.area_box_office, Some(format!("/{slug}/boxoffice?lang={}", lang.code())));
    add(Role::VoucherOffice, s.area_vouchers, Some(format!("/{slug}/vouchers?lang={}", lang.code())));
    add(Role::Merchant, s.area_merchant, Some(format!("/{slug}/merchant?lang={}", lang.code())));
    add(Role::Admin, s.area_accounts, Some(format!("/{slug}/staff/accounts?lang={}", lang.code())));
    areas
}

pub async fn home(staff: StaffSession, Query(query): Query<LangQuery>, headers: HeaderMap) -> Response {
    let lang = Lang::negotiate(query.lang.as_deref(), &headers);
    let s = lang.staff();
    let page = HomePage {
        lang,
        t: lang.texts(),
        s,
        organizer: &staff.handle.name,
        slug: &staff.slug,
        login: &staff.login,
        display_name: &staff.display_name,
        roles: role_list(staff.roles, s),
        expires: date_time(staff.expires_at, lang),
        csrf: staff.csrf_token(),
        areas: areas(&staff, s, lang),
    };
    html(&page, lang)
}

// ----- accounts (admins) -----

#[derive(Deserialize)]
pub struct AccountsQuery {
    lang: Option<String>,
    done: Option<String>,
}

pub async fn accounts_page(staff: StaffSession, Query(query): Query<AccountsQuery>, headers: HeaderMap) -> Response {
    let lang = Lang::negotiate(query.lang.as_deref(), &headers);
    if let Err(denied) = staff.require(Role::Admin) {
        return denied.respond(&staff.slug, &headers);
    }
    let s = lang.staff();
    let ok = match query.done.as_deref() {
        Some("created") => Some(s.created_ok),
        Some("disabled") => Some(s.disabled_ok),
        Some("password") => Some(s.password_ok),
        Some("roles") => Some(s.roles_ok),
        Some("ended") => Some(s.sessions_ended_ok),
        _ => None,
    };
    render_accounts(&staff, lang, ok, None).await
}

async fn render_accounts(staff: &StaffSession, lang: Lang, ok: Option<&'static str>, error: Option<&'static str>) -> Response {
    let s = lang.staff();
    let read = staff
        .handle
        .shard
        .read(move |t| {
            let staff = t.staff();
            staff
                .accounts()
                .iter()
                .map(|a| AccountRow {
                    id: a.id.0,
                    login: a.login.as_str().to_string(),
                    display_name: a.display_name.clone(),
                    roles: role_list(a.roles, s),
                    role_boxes: Role::ALL.iter().map(|r| (r.code(), s.role(*r), a.roles.contains(*r))).collect(),
                    enabled: a.is_enabled(),
                    sessions: staff.sessions_of(a.id),
                })
                .collect::<Vec<_>>()
        })
        .await;
    let accounts = match read {
        Ok(accounts) => accounts,
        Err(e) => return crate::http::problem::Problem::from(e).into_response(),
    };
    let page = AccountsPage {
        lang,
        t: lang.texts(),
        s,
        organizer: &staff.handle.name,
        slug: &staff.slug,
        csrf: staff.csrf_token(),
        accounts,
        roles: Role::ALL.iter().map(|r| (r.code(), s.role(*r))).collect(),
        ok,
        error,
    };
    html(&page, lang)
}

/// One form for the account actions (create, roles, password, end_sessions, disable); checkboxes arrive as `role_<code>=on`.
#[derive(Deserialize, Default)]
pub struct AccountForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    action: String,
    #[serde(default)]
    account: Option<u32>,
    #[serde(default)]
    login: String,
    #[serde(default)]
    display_name: String,
    #[serde(default)]
    password: String,
    role_admin: Option<String>,
    role_office: Option<String>,
    role_box_office: Option<String>,
    role_voucher_office: Option<String>,
    role_merchant: Option<String>,
}

impl AccountForm {
    fn roles(&self) -> Roles {
        let checked = [
            (Role::Admin, &self.role_admin),
            (Role::Office, &self.role_office),
            (Role::BoxOffice, &self.role_box_office),
            (Role::VoucherOffice, &self.role_voucher_office),
            (Role::Merchant, &self.role_merchant),
        ];
        Roles::of(&checked.iter().filter(|(_, v)| v.is_some()).map(|(r, _)| *r).collect::<Vec<_>>())
    }
}

/// Checks the session, then the CSRF token, then the admin role — so a forged
/// form learns nothing about roles — and only then acts.
pub async fn accounts_submit(
    staff: StaffSession,
    Query(query): Query<LangQuery>,
    headers: HeaderMap,
    Form(form): Form<AccountForm>,
) -> Response {
    let lang = Lang::negotiate(query.lang.as_deref(), &headers);
    if let Err(denied) = staff.check_csrf(&form.csrf).and_then(|()| staff.require(Role::Admin)) {
        return denied.respond(&staff.slug, &headers);
    }
    let s = lang.staff();
    let command = match account_command(&form, s).await {
        Ok(command) => command,
        Err(why) => return with_status(render_accounts(&staff, lang, None, Some(why)).await, StatusCode::UNPROCESSABLE_ENTITY),
    };
    let done = match &command {
        StaffCommand::CreateAccount { .. } => "created",
        StaffCommand::Disable { .. } => "disabled",
        StaffCommand::SetRoles { .. } => "roles",
        StaffCommand::EndAllSessions { .. } => "ended",
        _ => "password",
    };
    match staff.handle.shard.execute(None, core::Command::Staff(command)).await {
        Ok(Ok(_)) => see_other(format!("/{}/staff/accounts?lang={}&done={done}", staff.slug, lang.code())),
        Ok(Err(rejection)) => {
            let status = crate::http::problem::Problem::from_rejection(&rejection).status;
            let text = match rejection {
                core::Rejection::Staff(r) => s.rejection(r),
                _ => s.error_other,
            };
            with_status(render_accounts(&staff, lang, None, Some(text)).await, status)
        }
        Err(e) => crate::http::problem::Problem::from(e).into_response(),
    }
}

/// Parses the form into a command, with the page's text for what is wrong; hashing
/// a new password happens here, off the writer.
async fn account_command(form: &AccountForm, s: &'static StaffTexts) -> Result<StaffCommand, &'static str> {
    let account = || form.account.map(StaffAccountId).ok_or(s.error_other);
    let new_hash = || async {
        check_new_password(&form.password).map_err(|_| s.error_password_length)?;
        hash_password(form.password.clone()).await.map_err(|_| s.error_other)
    };
    match form.action.as_str() {
        "create" => {
            let login = LoginName::parse(&form.login.trim().to_lowercase()).ok_or(s.error_login_invalid)?;
            let display_name = form.display_name.trim().to_string();
            let password_hash = new_hash().await?;
            Ok(StaffCommand::CreateAccount { login, display_name, password_hash, roles: form.roles() })
        }
        "disable" => Ok(StaffCommand::Disable { account: account()? }),
        "roles" => Ok(StaffCommand::SetRoles { account: account()?, roles: form.roles() }),
        "end_sessions" => Ok(StaffCommand::EndAllSessions { account: account()? }),
        "password" => {
            let account = account()?;
            Ok(StaffCommand::ChangePassword { account, password_hash: new_hash().await? })
        }
        _ => Err(s.error_other),
    }
}
