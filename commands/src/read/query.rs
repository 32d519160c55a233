//! The query endpoints of `ledger read` (issue #14 §3): each answers what the matching CLI command
//! prints for the same views (`crate::cli::views::answers`), as JSON (and the registry and the act
//! also as CSV or the printable HTML, by `Accept`). A pharmacy sees its own contracts only: another
//! contract is 403, and a list shows only its own.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use chrono::NaiveDate;
use ledger::domain::values::{ContractId, ReportingPeriod};
use projector::views::deadlines::Party;

use super::access::{Viewer, internal};
use super::owners;
use super::params::{Params, bad_request};
use super::{Admitted, ReadState, with_checkpoint};
use crate::cli::Format;
use crate::cli::views::FormFormat;
use crate::cli::views::answers::{self, BudgetQuery};
use crate::cli::views::deadlines::{self, DeadlineQuery};
use crate::serve::{ConnectionIdentity, error};

type Identity = Option<axum::Extension<ConnectionIdentity>>;

/// Authenticates and applies `min_position`, then parses the rest of the query with `parse`; every
/// refusal carries the checkpoint.
async fn begin<T>(
    state: &ReadState,
    identity: Identity,
    headers: &HeaderMap,
    uri: &Uri,
    known: &[&str],
    parse: impl FnOnce(&mut Params) -> Result<T, Response>,
) -> Result<(Admitted, T), Response> {
    let mut params = Params::parse(uri.query());
    let admitted = state.admit(identity, headers, &mut params).await?;
    let parsed = parse(&mut params).and_then(|parsed| params.finish(known).map(|()| parsed));
    match parsed {
        Ok(parsed) => Ok((admitted, parsed)),
        Err(response) => Err(with_checkpoint(response, &admitted.checkpoint)),
    }
}

fn date(params: &mut Params, name: &str) -> Result<Option<NaiveDate>, Response> {
    params.parsed(name, "a date YYYY-MM-DD")
}

fn contract_id(text: &str) -> Result<ContractId, Response> {
    ContractId::new(text)
        .map_err(|error| bad_request("contract", format!("contract {text:?}: {error}")))
}

fn month(text: &str) -> Result<ReportingPeriod, Response> {
    super::feed::check_month("period", text)?;
    let (year, month) = text.split_once('-').expect("checked YYYY-MM");
    ReportingPeriod::month(
        year.parse().expect("digits"),
        month.parse().expect("digits"),
    )
    .map_err(|error| bad_request("period", format!("period {text:?}: {error}")))
}

/// A 200 of `body` with `content_type` and the checkpoint.
fn ok(admitted: &Admitted, content_type: &'static str, body: String) -> Response {
    let mut response = (StatusCode::OK, body).into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    with_checkpoint(response, &admitted.checkpoint)
}

fn not_found(admitted: &Admitted, message: String) -> Response {
    with_checkpoint(
        error(StatusCode::NOT_FOUND, "NOT_FOUND", None, message),
        &admitted.checkpoint,
    )
}

const JSON: &str = "application/json";

/// Runs a computation on the views without holding up the other tasks of this worker.
fn on_views<T>(compute: impl FnOnce() -> anyhow::Result<T>) -> Result<T, Response> {
    tokio::task::block_in_place(compute).map_err(internal)
}

/// Whether `viewer` may see contract `contract_id` (by its holder in the views).
fn sees(state: &ReadState, viewer: &Viewer, contract_id: &str) -> bool {
    viewer.sees_everything().is_some()
        || owners::holder(&state.views, contract_id)
            .ok()
            .flatten()
            .is_some_and(|holder| viewer.grant(Some(holder)).is_some())
}

pub async fn contracts(
    State(state): State<Arc<ReadState>>,
    identity: Identity,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    let known = ["as_of", "min_position", "wait"];
    let (admitted, as_of) = match begin(&state, identity, &headers, &uri, &known, |params| {
        date(params, "as_of")
    })
    .await
    {
        Ok(begun) => begun,
        Err(response) => return response,
    };
    let viewer = match Viewer::new(&state, admitted.principal.clone(), "contracts") {
        Ok(viewer) => viewer,
        Err(response) => return with_checkpoint(response, &admitted.checkpoint),
    };
    let visible = |record: &projector::views::contracts::ContractRecord| {
        sees(&state, &viewer, &record.contract_id)
    };
    match on_views(|| answers::contracts(&state.views, as_of, Format::Json, &visible)) {
        Ok(body) => ok(&admitted, JSON, body),
        Err(response) => response,
    }
}

pub async fn contract(
    State(state): State<Arc<ReadState>>,
    Path(id): Path<String>,
    identity: Identity,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    let known = ["as_of", "min_position", "wait"];
    let (admitted, as_of) = match begin(&state, identity, &headers, &uri, &known, |params| {
        date(params, "as_of")
    })
    .await
    {
        Ok(begun) => begun,
        Err(response) => return response,
    };
    let refuse = |response: Response| with_checkpoint(response, &admitted.checkpoint);
    if let Err(response) = contract_id(&id) {
        return refuse(response);
    }
    let viewer = match Viewer::new(&state, admitted.principal.clone(), "contracts") {
        Ok(viewer) => viewer,
        Err(response) => return refuse(response),
    };
    if let Err(response) = viewer.contract(&state, &id) {
        return refuse(response);
    }
    match on_views(|| answers::contract(&state.views, &id, as_of)) {
        Ok(Some(body)) => ok(&admitted, JSON, body),
        Ok(None) => not_found(&admitted, format!("no contract \"{id}\" in the views")),
        Err(response) => response,
    }
}

/// The printed form's format from `Accept`: JSON unless CSV or HTML is asked for first.
fn form_format(headers: &HeaderMap) -> Result<(FormFormat, &'static str), Response> {
    let Some(accept) = headers
        .get(header::ACCEPT)
        .and_then(|value| value.to_str().ok())
    else {
        return Ok((FormFormat::Json, JSON));
    };
    for range in accept.split(',') {
        match range.split(';').next().unwrap_or_default().trim() {
            "application/json" | "application/*" | "*/*" => return Ok((FormFormat::Json, JSON)),
            "text/csv" => return Ok((FormFormat::Csv, "text/csv; charset=utf-8")),
            "text/html" | "text/*" => return Ok((FormFormat::Html, "text/html; charset=utf-8")),
            _ => {}
        }
    }
    Err(error(
        StatusCode::NOT_ACCEPTABLE,
        "NOT_ACCEPTABLE",
        Some("Accept".into()),
        format!("Accept {accept:?}: the form is application/json, text/csv or text/html"),
    ))
}

/// Which of the two printed forms.
#[derive(Clone, Copy)]
enum Form {
    Registry,
    Act,
}

pub async fn registry(
    state: State<Arc<ReadState>>,
    path: Path<(String, String)>,
    identity: Identity,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    form(Form::Registry, state, path, identity, headers, uri).await
}

pub async fn act(
    state: State<Arc<ReadState>>,
    path: Path<(String, String)>,
    identity: Identity,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    form(Form::Act, state, path, identity, headers, uri).await
}

async fn form(
    which: Form,
    State(state): State<Arc<ReadState>>,
    Path((contract, period)): Path<(String, String)>,
    identity: Identity,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    let known = ["min_position", "wait"];
    let begun = begin(&state, identity, &headers, &uri, &known, |_| {
        let format = form_format(&headers)?;
        Ok((contract_id(&contract)?, month(&period)?, format))
    });
    let (admitted, (contract_id, period, (format, content_type))) = match begun.await {
        Ok(begun) => begun,
        Err(response) => return response,
    };
    let refuse = |response: Response| with_checkpoint(response, &admitted.checkpoint);
    let resource = match which {
        Form::Registry => "registries",
        Form::Act => "acts",
    };
    let viewer = match Viewer::new(&state, admitted.principal.clone(), resource) {
        Ok(viewer) => viewer,
        Err(response) => return refuse(response),
    };
    let patients = match viewer
        .contract(&state, contract_id.as_str())
        .and_then(|grant| viewer.patients(&state, &grant))
    {
        Ok(patients) => patients,
        Err(response) => return refuse(response),
    };
    let answer = on_views(|| match which {
        Form::Registry => answers::registry(&state.views, &contract_id, period, format, patients),
        Form::Act => answers::act(&state.views, &contract_id, period, format),
    });
    match answer {
        Ok(Some(body)) => ok(&admitted, content_type, body),
        Ok(None) => not_found(
            &admitted,
            format!(
                "no {} for contract \"{contract_id}\" in period {period}",
                match which {
                    Form::Registry => "registry",
                    Form::Act => "payment act",
                }
            ),
        ),
        Err(response) => response,
    }
}

fn deadline_query(params: &mut Params) -> Result<DeadlineQuery, Response> {
    let as_of = date(params, "as_of")?.ok_or_else(|| {
        bad_request(
            "as_of",
            "query parameter as_of (YYYY-MM-DD) is required".into(),
        )
    })?;
    let overdue = params.flag("overdue")?;
    let within = params.parsed::<u32>("within", "a number of working days")?;
    let contract = params
        .take("contract")?
        .map(|text| contract_id(&text))
        .transpose()?;
    let party = match params.take("party")?.as_deref() {
        None => None,
        Some("fund") => Some(Party::Fund),
        Some("pharmacy") => Some(Party::Pharmacy),
        Some(other) => {
            return Err(bad_request(
                "party",
                format!("query parameter party={other:?} is not fund or pharmacy"),
            ));
        }
    };
    Ok(DeadlineQuery {
        as_of,
        overdue,
        within,
        contract,
        party,
    })
}

pub async fn deadlines(
    State(state): State<Arc<ReadState>>,
    identity: Identity,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    let known = [
        "as_of",
        "overdue",
        "within",
        "contract",
        "party",
        "min_position",
        "wait",
    ];
    let (admitted, query) =
        match begin(&state, identity, &headers, &uri, &known, deadline_query).await {
            Ok(begun) => begun,
            Err(response) => return response,
        };
    let refuse = |response: Response| with_checkpoint(response, &admitted.checkpoint);
    let viewer = match Viewer::new(&state, admitted.principal.clone(), "deadlines") {
        Ok(viewer) => viewer,
        Err(response) => return refuse(response),
    };
    if let Some(contract_id) = &query.contract
        && let Err(response) = viewer.contract(&state, contract_id.as_str())
    {
        return refuse(response);
    }
    let visible = |contract_id: &str| sees(&state, &viewer, contract_id);
    match on_views(|| deadlines::answer(&state.views, &query, Format::Json, &visible)) {
        Ok(body) => ok(&admitted, JSON, body),
        Err(response) => response,
    }
}

pub async fn budgets(
    State(state): State<Arc<ReadState>>,
    Path((country, year)): Path<(String, String)>,
    identity: Identity,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    let known = ["region", "programme", "min_position", "wait"];
    let begun = begin(&state, identity, &headers, &uri, &known, |params| {
        let country = country.to_ascii_uppercase();
        if country != "KZ" && country != "KG" {
            return Err(bad_request(
                "country",
                format!("country {country:?} is not KZ or KG"),
            ));
        }
        let year: i32 = year
            .parse()
            .ok()
            .filter(|year| (1990..=2100).contains(year))
            .ok_or_else(|| {
                bad_request("year", format!("year {year:?} is not a fiscal year YYYY"))
            })?;
        Ok(BudgetQuery {
            country,
            year,
            region: params.take("region")?,
            programme: params.take("programme")?,
        })
    });
    let (admitted, query) = match begun.await {
        Ok(begun) => begun,
        Err(response) => return response,
    };
    let refuse = |response: Response| with_checkpoint(response, &admitted.checkpoint);
    let viewer = match Viewer::new(&state, admitted.principal.clone(), "budgets") {
        Ok(viewer) => viewer,
        Err(response) => return refuse(response),
    };
    if viewer.grant(None).is_none() {
        let target = format!("budget/{}/{}", query.country, query.year);
        return refuse(viewer.refuse(&state, &target, None));
    }
    match on_views(|| answers::budget(&state.views, &query, Format::Json)) {
        Ok(body) => ok(&admitted, JSON, body),
        Err(response) => response,
    }
}
