//! The Appendix 1 and 2 forms of every KZ contract of the packed month, from the views caught up
//! with the log (the same rendering as `ledger registry show` / `act show` and the demo's exports),
//! as CSV and printable HTML. With a pseudonymizer, column 6 (patient IIN) holds the pseudonym.

use std::path::{Path, PathBuf};

use ledger::domain::values::ContractId;
use ledger::log::EventLog;
use projector::views::{act, registry};

use super::PackOptions;
use crate::cli::views::convert;
use crate::files::write_file;
use crate::render;

/// Writes `forms/<contract>-<YYYY-MM>-appendix{1,2}.{csv,html}`; returns the files written.
pub async fn write(
    log: &dyn EventLog,
    data_dir: &Path,
    options: &PackOptions,
    contracts: &[String],
) -> anyhow::Result<Vec<PathBuf>> {
    let projected = crate::project::catch_up_views(
        log,
        &crate::project::views_dir(data_dir),
        projector::CatchUpOptions::default(),
    )
    .await?;
    let reader = projected.reader();
    let dir = options.out.join("forms");
    std::fs::create_dir_all(&dir)?;
    let mut written = Vec::new();
    for contract in contracts {
        let contract_id =
            ContractId::new(contract.as_str()).map_err(|error| anyhow::anyhow!("{error}"))?;
        let base = format!("{contract}-{}", options.period.key());
        if let Some(found) = registry::read(&reader, &contract_id, options.period)? {
            let mut form = convert::registry_form(&found);
            if let Some(pseudonymizer) = &options.pseudonymizer {
                for line in &mut form.lines {
                    line.patient_iin = pseudonymizer.pseudonym("KZ-IIN", &line.patient_iin);
                }
            }
            written.push(write_file(
                dir.join(format!("{base}-appendix1.csv")),
                render::registry_csv(&form),
            )?);
            written.push(write_file(
                dir.join(format!("{base}-appendix1.html")),
                render::registry_html(&form),
            )?);
        }
        if let Some(found) = act::read(&reader, &contract_id, options.period)? {
            let form = convert::act_form(&found, &registry::read_holder(&reader, &contract_id)?);
            written.push(write_file(
                dir.join(format!("{base}-appendix2.csv")),
                render::act_csv(&form),
            )?);
            written.push(write_file(
                dir.join(format!("{base}-appendix2.html")),
                render::act_html(&form),
            )?);
        }
    }
    Ok(written)
}
