//! `ledger pki dev`: a development PKI, like `mkcert` (issue #13 §7). Writes a CA, a server
//! certificate for localhost, client certificates for the demo's Fund, each demo pharmacy (the KZ
//! contract holders of `ledger demo --seed S`) and a regulator, a CRL, a JWKS with its signing key,
//! tokens for a Fund operator, a regulator and an analyst, and a README.txt saying which file is whom.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use ledger::domain::ident::{Bin, Iin};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::auth::principal::Organisation;
use crate::demo::world::{World, random_bin, random_iin};
use crate::demo::{self, DemoOptions};
use crate::pki::{
    ClientSubject, DEV_AUDIENCE, DEV_ISSUER, DevCa, Issued, TokenClaims, TokenSigner, Validity,
    jwks, write_private, write_public,
};

#[derive(Debug, clap::Subcommand)]
pub enum PkiCommand {
    /// Writes a development CA, certificates for localhost and the demo's organisations, a CRL, a
    /// JWKS and signed tokens into a directory (never for production).
    Dev(DevArgs),
}

#[derive(Debug, clap::Args)]
pub struct DevArgs {
    /// The directory to write into (created if missing; files of the same names are replaced).
    #[arg(long)]
    pub out: PathBuf,
    /// The Fund's BIN; default: the Fund of `ledger demo --seed S`.
    #[arg(long)]
    pub fund_bin: Option<Bin>,
    /// The seed of the demo world whose pharmacies get certificates (as `ledger demo --seed`).
    #[arg(long, default_value_t = DemoOptions::default().seed)]
    pub seed: u64,
    /// Days the certificates and tokens stay valid.
    #[arg(long, default_value_t = 365, value_parser = clap::value_parser!(u32).range(1..=3650))]
    pub days: u32,
}

/// Salt of the random stream that picks the regulator's and analyst's BINs and the people's IINs.
const PKI_STREAM: u64 = 0x504B_4900_0000_0001;

/// One organisation that gets a certificate or a token.
struct Party {
    /// The file stem under `clients/` or `tokens/`.
    stem: String,
    name: String,
    bin: Bin,
    person: Iin,
    /// What it is, for README.txt.
    about: String,
}

pub fn run(command: PkiCommand) -> anyhow::Result<ExitCode> {
    match command {
        PkiCommand::Dev(args) => dev(&args),
    }
}

fn dev(args: &DevArgs) -> anyhow::Result<ExitCode> {
    let fund_bin = args.fund_bin.unwrap_or_else(|| demo::fund_bin(args.seed));
    let parties = parties(args.seed, fund_bin);
    let validity = Validity::days_from_now(i64::from(args.days));
    for sub in ["", "clients", "tokens"] {
        std::fs::create_dir_all(args.out.join(sub))
            .with_context(|| format!("cannot create {}", args.out.join(sub).display()))?;
    }
    let ca = DevCa::generate("ledger development CA", validity)?;
    write_public(&args.out.join("ca.pem"), &ca.certificate().cert_pem)?;
    write_private(&args.out.join("ca-key.pem"), &ca.certificate().key_pem)?;
    ca.server(&["localhost", "127.0.0.1", "::1"], validity)?
        .write(&args.out, "server")?;
    let clients = args.out.join("clients");
    for party in parties.certificates() {
        ca.client(&subject(party), validity)?
            .write(&clients, &party.stem)?;
    }
    let revoked = ca.client(&subject(&parties.pharmacies[0].1), validity)?;
    revoked.write(&clients, "revoked")?;
    write_public(&args.out.join("crl.pem"), &ca.crl(&[&revoked], 30)?)?;
    let signer = TokenSigner::es256(&format!("ledger-dev-{}", args.seed))?;
    write_public(
        &args.out.join("jwks.json"),
        &serde_json::to_string_pretty(&jwks(&[&signer]))?,
    )?;
    write_private(&args.out.join("jwks-signing-key.pem"), signer.key_pem())?;
    write_tokens(&args.out, &signer, &parties, validity)?;
    write_public(&args.out.join("policy.toml"), &dev_policy(&parties))?;
    write_public(
        &args.out.join("dispensing.json"),
        &example_dispensing(args.seed)?,
    )?;
    let readme = readme(&args.out, &parties, &revoked, validity);
    write_public(&args.out.join("README.txt"), &readme)?;
    print_summary(args, &parties, &signer, validity);
    Ok(ExitCode::SUCCESS)
}

/// A dispensing the first contract's holder may post once `ledger demo --seed S` has run: the month
/// after the demo's last one, as the JSON command `POST /v1/commands` takes (no actor: the certificate
/// names it).
fn example_dispensing(seed: u64) -> anyhow::Result<String> {
    let options = DemoOptions::default();
    let world = World::generate(seed, options.networks, demo::KG_PHARMACIES, 20_000);
    let holder = &world.contracts[0];
    let month = options.first_month + chrono::Months::new(options.months);
    let period = ledger::domain::values::ReportingPeriod::month(
        chrono::Datelike::year(&month),
        chrono::Datelike::month(&month),
    )?;
    let dispensing = crate::demo::dispense::generate(&world, holder, period, 1)?;
    let envelope = crate::submit::wire::CommandEnvelope {
        command_id: ledger::log::CommandId::derived("ledger-pki-dev", &format!("{seed}")),
        stream: crate::demo::engine::period_stream(&holder.contract_id, period),
        actor: None,
        jurisdiction: holder.jurisdiction,
        occurred_at: Some(dispensing.dispensed_at),
        correlation_id: None,
        expected_version: None,
        command: crate::submit::wire::WireCommand::RecordDispensing(Box::new(dispensing)),
    };
    Ok(serde_json::to_string_pretty(&envelope)? + "\n")
}

/// The default policy (`deploy/policy.toml`) with the development regulator and analyst listed, so that
/// `ledger serve --policy DIR/policy.toml` knows them.
fn dev_policy(parties: &Parties) -> String {
    let policy = crate::auth::policy::DEFAULT_POLICY;
    let listed = policy
        .replacen(
            "Regulator = []",
            &format!("Regulator = [\"{}\"]", parties.regulator.bin),
            1,
        )
        .replacen(
            "Analyst = []",
            &format!("Analyst = [\"{}\"]", parties.analyst.bin),
            1,
        );
    assert_ne!(listed, policy, "the default policy lists its roles");
    format!(
        "# Written by `ledger pki dev`: deploy/policy.toml with the development regulator and analyst.\n{listed}"
    )
}

/// The subject of a party's certificate: the organisation and the person who acts for it.
fn subject(party: &Party) -> ClientSubject {
    ClientSubject::new(
        &party.about,
        &party.name,
        Organisation::Kz(party.bin),
        Some(party.person),
    )
}

/// Who gets what: the Fund, each KZ contract holder, a regulator, an analyst.
struct Parties {
    fund: Party,
    pharmacies: Vec<(String, Party)>,
    regulator: Party,
    analyst: Party,
}

impl Parties {
    /// Those who get client certificates (the analyst has a token only).
    fn certificates(&self) -> impl Iterator<Item = &Party> {
        std::iter::once(&self.fund)
            .chain(self.pharmacies.iter().map(|(_, party)| party))
            .chain(std::iter::once(&self.regulator))
    }
}

fn parties(seed: u64, fund_bin: Bin) -> Parties {
    let options = DemoOptions::default();
    // Patients and the KG part draw after the contracts, so none are needed for the same holders.
    let world = World::generate(seed, options.networks, 0, 0);
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ PKI_STREAM);
    let pharmacies = world
        .contracts
        .iter()
        .map(|contract| {
            let party = Party {
                stem: contract.contract_id.clone(),
                name: contract.holder.name.clone(),
                bin: contract.holder.bin,
                person: random_iin(&mut rng),
                about: format!("{}: pharmacy system", contract.contract_id),
            };
            (contract.contract_id.clone(), party)
        })
        .collect();
    let fund = Party {
        stem: "fund".into(),
        name: "НАО «Фонд социального медицинского страхования»".into(),
        bin: fund_bin,
        person: random_iin(&mut rng),
        about: "Fund operator".into(),
    };
    let regulator = Party {
        stem: "regulator".into(),
        name: "Регулятор (development)".into(),
        bin: random_bin(&mut rng),
        person: random_iin(&mut rng),
        about: "Regulator inspector".into(),
    };
    let analyst = Party {
        stem: "analyst".into(),
        name: "Аналитик (development)".into(),
        bin: random_bin(&mut rng),
        person: random_iin(&mut rng),
        about: "Analyst".into(),
    };
    Parties {
        fund,
        pharmacies,
        regulator,
        analyst,
    }
}

/// `tokens/fund-operator.jwt` (role Fund), `tokens/regulator.jwt`, `tokens/analyst.jwt`.
fn write_tokens(
    out: &Path,
    signer: &TokenSigner,
    parties: &Parties,
    validity: Validity,
) -> anyhow::Result<()> {
    for (file, party, role) in [
        ("fund-operator", &parties.fund, "Fund"),
        ("regulator", &parties.regulator, "Regulator"),
        ("analyst", &parties.analyst, "Analyst"),
    ] {
        let mut claims = TokenClaims::new(
            DEV_ISSUER,
            DEV_AUDIENCE,
            &format!("{}-{}", party.stem, party.person),
            Organisation::Kz(party.bin),
            validity,
        );
        claims.iin = Some(party.person.to_string());
        claims.role = Some(role.into());
        let token = signer.sign(&claims)?;
        write_private(&out.join("tokens").join(format!("{file}.jwt")), &token)?;
    }
    Ok(())
}

fn readme(out: &Path, parties: &Parties, revoked: &Issued, validity: Validity) -> String {
    let dir = out.display();
    let mut text = format!(
        "Development PKI written by `ledger pki dev` (never use it in production).\n\
         Valid until {}. Private keys and tokens are readable by their owner only (0600).\n\n\
         ca.pem, ca-key.pem                    the CA: trust ca.pem (curl --cacert, --client-ca)\n\
         server.pem, server-key.pem            the server: localhost, 127.0.0.1, ::1\n\
         crl.pem                               revokes clients/revoked.pem (serial {})\n\
         jwks.json, jwks-signing-key.pem       the token issuer's JWKS (ES256) and its private key\n\n\
         Client certificates (clients/<name>.pem and clients/<name>-key.pem):\n",
        validity.not_after.format("%Y-%m-%d"),
        revoked.serial_hex(),
    );
    for party in parties.certificates() {
        let _ = writeln!(
            text,
            "  {:<12} BIN {}  IIN {}  {}  ({})",
            party.stem, party.bin, party.person, party.name, party.about
        );
    }
    let _ = writeln!(
        text,
        "  {:<12} a second certificate of {}, revoked by crl.pem\n",
        "revoked", parties.pharmacies[0].0
    );
    text.push_str("Tokens (tokens/<name>.jwt; header: Authorization: Bearer <token>):\n");
    for (file, party, role) in [
        ("fund-operator", &parties.fund, "Fund"),
        ("regulator", &parties.regulator, "Regulator"),
        ("analyst", &parties.analyst, "Analyst"),
    ] {
        let _ = writeln!(
            text,
            "  {file:<14} BIN {}  IIN {}  role {role}",
            party.bin, party.person
        );
    }
    let _ = write!(
        text,
        "\nThe regulator and the analyst are roles of the policy: policy.toml is deploy/policy.toml\n\
         with their BINs listed:\n\
         \x20 [organisations]\n  Regulator = [\"{}\"]\n  Analyst = [\"{}\"]\n\n\
         Serve with TLS, client certificates and tokens (the Fund's BIN is {}):\n\
         \x20 ledger serve --listen 127.0.0.1:8443 --fund-bin {} --policy {dir}/policy.toml \\\n\
         \x20   --tls-cert {dir}/server.pem --tls-key {dir}/server-key.pem \\\n\
         \x20   --client-ca {dir}/ca.pem --client-crl {dir}/crl.pem \\\n\
         \x20   --jwks {dir}/jwks.json --jwt-issuer {DEV_ISSUER} --jwt-audience {DEV_AUDIENCE}\n\n\
         Post a command as the pharmacy of {} (its certificate names its BIN and a pharmacist's IIN):\n\
         \x20 curl --cacert {dir}/ca.pem --cert {dir}/clients/{}.pem --key {dir}/clients/{}-key.pem \\\n\
         \x20   -H 'content-type: application/json' --data @{dir}/dispensing.json https://localhost:8443/v1/commands\n\
         or as the Fund's operator, with a token:\n\
         \x20 curl --cacert {dir}/ca.pem -H \"authorization: Bearer $(cat {dir}/tokens/fund-operator.jwt)\" ...\n",
        parties.regulator.bin,
        parties.analyst.bin,
        parties.fund.bin,
        parties.fund.bin,
        parties.pharmacies[0].0,
        parties.pharmacies[0].0,
        parties.pharmacies[0].0,
    );
    text
}

fn print_summary(args: &DevArgs, parties: &Parties, signer: &TokenSigner, validity: Validity) {
    let first = &parties.pharmacies[0].0;
    let last = &parties.pharmacies[parties.pharmacies.len() - 1].0;
    println!(
        "wrote a development PKI to {} (seed {}, valid until {}):",
        args.out.display(),
        args.seed,
        validity.not_after.format("%Y-%m-%d")
    );
    println!("  CA          ca.pem (trust it: --cacert, --client-ca)");
    println!("  server      server.pem, server-key.pem (localhost, 127.0.0.1, ::1)");
    println!("  Fund        clients/fund.pem (BIN {})", parties.fund.bin);
    println!(
        "  pharmacies  clients/{first}.pem … clients/{last}.pem ({} contract holders)",
        parties.pharmacies.len()
    );
    println!(
        "  regulator   clients/regulator.pem (BIN {})",
        parties.regulator.bin
    );
    println!("  revoked     clients/revoked.pem, listed in crl.pem");
    println!(
        "  tokens      tokens/fund-operator.jwt, regulator.jwt, analyst.jwt (ES256, kid {}; jwks.json)",
        signer.kid()
    );
    println!(
        "see {} for who is whom and the serve and curl commands",
        args.out.join("README.txt").display()
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The certificates go to the demo's own contract holders and Fund: the world without patients
    /// and KG pharmacies has the same KZ contracts as the one `ledger demo` builds.
    #[test]
    fn the_pharmacies_are_the_demo_contract_holders() {
        let options = DemoOptions::default();
        let demo_world = World::generate(7, options.networks, demo::KG_PHARMACIES, 20_000);
        let parties = parties(7, demo::fund_bin(7));
        let holders: Vec<(String, Bin)> = demo_world
            .contracts
            .iter()
            .map(|contract| (contract.contract_id.clone(), contract.holder.bin))
            .collect();
        let issued: Vec<(String, Bin)> = parties
            .pharmacies
            .iter()
            .map(|(id, party)| (id.clone(), party.bin))
            .collect();
        assert_eq!(issued, holders);
        assert_eq!(parties.fund.bin, demo::fund_bin(7));
        assert_ne!(parties.regulator.bin, parties.fund.bin);
    }
}
