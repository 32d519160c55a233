//! `ledger log stats|tail|verify`: inspect and check the embedded event log.
//!
//! All three open the log read-only (no lock), so they work beside a running writer; they see the log
//! as of the moment they open it.

use std::io::Write;
use std::process::ExitCode;

use anyhow::Context;
use ledger::log::file::{FileLog, PartitionVerdict, VerifyReport, verify};
use ledger::log::{EventEnvelope, EventLog, Offset, PartitionId, Position};
use serde_json::json;

use super::{Format, GlobalOpts, UsageError};

#[derive(Debug, clap::Subcommand)]
pub enum LogCommand {
    /// Partitions, record counts, bytes, streams and chain heads.
    Stats {
        #[arg(long, value_enum, default_value_t)]
        format: Format,
    },
    /// Prints records: from a position on, or else the last records of every partition. `--format json`
    /// prints each as its CloudEvent (the public form, decoded payload in `data`), one per line.
    Tail {
        /// Start here (`PARTITION:OFFSET`, e.g. `0:1024`) and print forward on that partition only.
        #[arg(long)]
        from: Option<Position>,
        /// The most records to print (per partition without --from).
        #[arg(long, default_value_t = 20)]
        limit: u64,
        #[arg(long, value_enum, default_value_t)]
        format: Format,
    },
    /// Checks every segment: frame CRCs, the hash chain, record decoding, stream version gaps.
    /// Exits 2 and prints the first bad position if anything is wrong.
    Verify,
}

pub fn run(command: LogCommand, global: &GlobalOpts) -> anyhow::Result<ExitCode> {
    match command {
        LogCommand::Stats { format } => stats(global, format),
        LogCommand::Tail {
            from,
            limit,
            format,
        } => tail(global, from, limit, format),
        LogCommand::Verify => run_verify(global),
    }
}

fn open(global: &GlobalOpts) -> anyhow::Result<FileLog> {
    FileLog::open_read_only(&global.data_dir)
        .with_context(|| format!("cannot open the event log in {}", global.data_dir.display()))
}

fn stats(global: &GlobalOpts, format: Format) -> anyhow::Result<ExitCode> {
    let stats = open(global)?.stats();
    let mut out = std::io::stdout().lock();
    let records: u64 = stats
        .partitions
        .iter()
        .map(|partition| partition.records)
        .sum();
    let bytes: u64 = stats
        .partitions
        .iter()
        .map(|partition| partition.bytes)
        .sum();
    if format == Format::Json {
        let partitions: Vec<_> = stats
            .partitions
            .iter()
            .map(|partition| {
                json!({
                    "partition": partition.partition.0,
                    "segments": partition.segments,
                    "records": partition.records,
                    "bytes": partition.bytes,
                    "chain_head": partition.head.to_hex(),
                })
            })
            .collect();
        let document = json!({
            "partitions": partitions,
            "records": records,
            "bytes": bytes,
            "streams": stats.streams,
            "commands": stats.commands,
        });
        writeln!(out, "{document}")?;
        return Ok(ExitCode::SUCCESS);
    }
    writeln!(out, "data dir:   {}", global.data_dir.display())?;
    writeln!(out, "partitions: {}", stats.partitions.len())?;
    writeln!(out, "records:    {records}")?;
    writeln!(out, "bytes:      {bytes}")?;
    writeln!(out, "streams:    {}", stats.streams)?;
    writeln!(out, "commands:   {}", stats.commands)?;
    for partition in &stats.partitions {
        writeln!(
            out,
            "partition {}: {} records, {} bytes, {} segments, chain head {}",
            partition.partition,
            partition.records,
            partition.bytes,
            partition.segments,
            partition.head
        )?;
    }
    Ok(ExitCode::SUCCESS)
}

fn tail(
    global: &GlobalOpts,
    from: Option<Position>,
    limit: u64,
    format: Format,
) -> anyhow::Result<ExitCode> {
    let log = open(global)?;
    let runtime = super::runtime()?;
    let limit_records = usize::try_from(limit).unwrap_or(usize::MAX);
    let form = super::public::form(global);
    let mut out = std::io::stdout().lock();
    let ranges: Vec<(PartitionId, Offset)> = match from {
        Some(position) => {
            if position.partition.0 >= log.partitions() {
                return Err(UsageError(format!(
                    "--from {position}: partition {} does not exist; the log has partitions 0..{}",
                    position.partition,
                    log.partitions()
                ))
                .into());
            }
            vec![(position.partition, position.offset)]
        }
        None => {
            let mut ranges = Vec::new();
            for partition in (0..log.partitions()).map(PartitionId) {
                let end = runtime.block_on(log.end_offset(partition))?;
                ranges.push((partition, Offset(end.0.saturating_sub(limit))));
            }
            ranges
        }
    };
    for (partition, start) in ranges {
        let mut next = start;
        let mut printed = 0usize;
        while printed < limit_records {
            let want = (limit_records - printed).min(ledger::log::READ_BATCH_RECORDS);
            let batch = runtime.block_on(log.read_batch(partition, next, want))?;
            let Some(last) = batch.last() else { break };
            next = last.position.offset.next();
            for envelope in &batch {
                match format {
                    Format::Text => print_record(&mut out, envelope)?,
                    Format::Json => super::public::write_line(&mut out, &form, envelope)?,
                }
            }
            printed += batch.len();
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn print_record(out: &mut impl Write, envelope: &EventEnvelope) -> std::io::Result<()> {
    let body = &envelope.body;
    writeln!(
        out,
        "{} {}@{} {} v{} occurred={} recorded={} actor={} ({}) command={}",
        envelope.position,
        body.stream,
        body.stream_version,
        body.payload.event_type,
        body.payload.schema_version,
        body.occurred_at,
        body.recorded_at,
        body.actor.id,
        body.actor.role,
        body.command_id
    )
}

pub(super) fn run_verify(global: &GlobalOpts) -> anyhow::Result<ExitCode> {
    let report: VerifyReport = verify(&global.data_dir).with_context(|| {
        format!(
            "cannot verify the event log in {}",
            global.data_dir.display()
        )
    })?;
    let mut out = std::io::stdout().lock();
    for verdict in &report.partitions {
        print_verdict(&mut out, verdict)?;
    }
    let records: u64 = report
        .partitions
        .iter()
        .map(|verdict| verdict.records)
        .sum();
    match report.first_problem() {
        None => {
            writeln!(
                out,
                "verdict: ok ({records} records in {} partitions)",
                report.partitions.len()
            )?;
            Ok(ExitCode::SUCCESS)
        }
        Some(problem) => {
            writeln!(
                out,
                "verdict: DAMAGED: first bad position {} ({} byte {}): {}",
                problem.position,
                problem.path.display(),
                problem.byte_offset,
                problem.kind
            )?;
            writeln!(
                out,
                "hint: a torn tail is repaired by the next writing open; any other damage needs the segment \
                 restored from a backup"
            )?;
            Ok(ExitCode::from(2))
        }
    }
}

fn print_verdict(out: &mut impl Write, verdict: &PartitionVerdict) -> std::io::Result<()> {
    let summary = format!(
        "{} records, {} bytes, {} segments, chain head {}",
        verdict.records, verdict.bytes, verdict.segments, verdict.head
    );
    match &verdict.problem {
        None => writeln!(out, "partition {}: ok: {summary}", verdict.partition),
        Some(problem) => writeln!(
            out,
            "partition {}: BAD at {} ({} byte {}): {}; good before it: {summary}",
            verdict.partition,
            problem.position,
            problem.path.display(),
            problem.byte_offset,
            problem.kind
        ),
    }
}
