//! `ledger project`: catches every view up with the log and prints the one-line summary; with
//! `--follow`, then keeps applying new events until SIGINT or SIGTERM (the projector service).

use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use futures::future::{Either, select};

use super::{GlobalOpts, open};
use crate::project::{FollowSettings, Stop, catch_up_open, open_views, views_dir};

#[derive(Debug, Clone, clap::Args)]
pub struct ProjectArgs {
    /// After catching up, keep following the log until SIGINT or SIGTERM (then finish the batch,
    /// flush and exit 0). On Kafka it consumes as a member of a consumer group.
    #[arg(long)]
    pub follow: bool,
    /// The Kafka consumer group of a following projector (default: the log URL's `group` option, else
    /// `<prefix>.projector`). One group per view store: members of one group split the partitions.
    #[arg(long, env = "LEDGER_PROJECTOR_GROUP")]
    pub group: Option<String>,
    /// Seconds between the one-line progress reports of a following projector.
    #[arg(long, default_value_t = 30, requires = "follow")]
    pub status_every: u64,
}

pub fn run(args: &ProjectArgs, global: &GlobalOpts) -> anyhow::Result<ExitCode> {
    let runtime = super::runtime()?;
    let log = open::read_only(&runtime, global)?;
    runtime.block_on(async {
        let stop = Stop::on_signals()?;
        let mut projector = open_views(&views_dir(&global.data_dir))?;
        // A signal during catch-up stops it between batches: every batch is atomic in the store.
        let caught_up = {
            let catch_up = catch_up_open(
                &mut projector,
                log.as_ref(),
                projector::CatchUpOptions::default(),
            );
            match select(
                std::pin::pin!(catch_up),
                std::pin::pin!(stop.clone().requested()),
            )
            .await
            {
                Either::Left((report, _)) => Some(report?),
                Either::Right(((), _)) => None,
            }
        };
        let Some(report) = caught_up else {
            projector.flush().context("cannot flush the views")?;
            eprintln!("stopped during catch-up");
            return Ok(ExitCode::SUCCESS);
        };
        println!("{report}");
        if !args.follow || stop.is_requested() {
            return Ok(ExitCode::SUCCESS);
        }
        let settings = FollowSettings {
            status_every: Duration::from_secs(args.status_every.max(1)),
        };
        let report = match global.log.as_deref() {
            Some(url) => follow_kafka(&mut projector, url, args, &settings, stop).await?,
            None => {
                eprintln!("following the log in {}", global.data_dir.display());
                let data_dir = &global.data_dir;
                crate::project::follow_embedded(&mut projector, data_dir, &settings, stop).await?
            }
        };
        println!("{report}");
        Ok(ExitCode::SUCCESS)
    })
}

#[cfg(feature = "kafka")]
async fn follow_kafka(
    projector: &mut projector::Projector<projector::SledStore>,
    url: &str,
    args: &ProjectArgs,
    settings: &FollowSettings,
    stop: Stop,
) -> anyhow::Result<projector::CatchUpReport> {
    let mut config = ledger::log::kafka::KafkaConfig::from_url(url)
        .map_err(|error| super::UsageError(error.to_string()))?;
    if let Some(group) = &args.group {
        config.group.clone_from(group);
    }
    eprintln!(
        "following {} as consumer group \"{}\"",
        config.events_topic(),
        config.group
    );
    crate::project::follow_group(projector, &config, settings, stop).await
}

#[cfg(not(feature = "kafka"))]
async fn follow_kafka(
    _projector: &mut projector::Projector<projector::SledStore>,
    url: &str,
    _args: &ProjectArgs,
    _settings: &FollowSettings,
    _stop: Stop,
) -> anyhow::Result<projector::CatchUpReport> {
    Err(super::UsageError(format!(
        "--log {url}: this build has no Kafka support; build with `--features ledger-commands/kafka`"
    ))
    .into())
}
