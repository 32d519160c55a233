//! The deployment files in `deploy/` cannot run here (no Docker, no Kubernetes), so CI checks that
//! every YAML file parses and that the durability settings of issue #7 are present: KRaft with 3
//! controllers and ≥ 3 brokers, replication factor 3, `min.insync.replicas=2`, unclean leader election
//! off, infinite retention on the ledger topic and on its public twin `ledger.events.json` (issue #14,
//! same partition count), one writer, and projectors.

use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_norway::Value;

fn deploy_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy")
}

/// Every YAML document of `path` (Kubernetes files hold several, separated by `---`).
fn documents(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|error| panic!("read {}: {error}", path.display()));
    serde_norway::Deserializer::from_str(&text)
        .map(|document| {
            Value::deserialize(document)
                .unwrap_or_else(|error| panic!("{} does not parse: {error}", path.display()))
        })
        .collect()
}

fn yaml_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in
        std::fs::read_dir(dir).unwrap_or_else(|error| panic!("read {}: {error}", dir.display()))
    {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(yaml_files(&path));
        } else if path
            .extension()
            .is_some_and(|extension| extension == "yaml" || extension == "yml")
        {
            files.push(path);
        }
    }
    files.sort();
    files
}

fn text(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        Value::Number(number) => number.to_string(),
        Value::Bool(flag) => flag.to_string(),
        other => panic!("expected a scalar, got {other:?}"),
    }
}

/// A container's (or compose service's) environment as name → value, from either the compose map form
/// or the Kubernetes list form (`- name: …, value: …`).
fn environment(container: &Value) -> Vec<(String, String)> {
    match container
        .get("environment")
        .or_else(|| container.get("env"))
    {
        Some(Value::Mapping(map)) => map
            .iter()
            .map(|(name, value)| (text(name), text(value)))
            .collect(),
        Some(Value::Sequence(list)) => list
            .iter()
            .filter_map(|item| Some((text(item.get("name")?), text(item.get("value")?))))
            .collect(),
        _ => Vec::new(),
    }
}

fn env_value<'a>(env: &'a [(String, String)], name: &str) -> Option<&'a str> {
    env.iter()
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.as_str())
}

/// The command line of a container or service, joined (compose `entrypoint` + `command`, k8s
/// `command` + `args`).
fn command_line(container: &Value) -> String {
    ["entrypoint", "command", "args"]
        .iter()
        .filter_map(|key| container.get(*key))
        .flat_map(|value| match value {
            Value::Sequence(items) => items.iter().map(text).collect::<Vec<_>>(),
            other => vec![text(other)],
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Asserts the broker-wide durability settings on one broker's environment.
fn assert_durable_broker(name: &str, env: &[(String, String)]) {
    for (key, expected) in [
        ("KAFKA_DEFAULT_REPLICATION_FACTOR", "3"),
        ("KAFKA_MIN_INSYNC_REPLICAS", "2"),
        ("KAFKA_UNCLEAN_LEADER_ELECTION_ENABLE", "false"),
        ("KAFKA_AUTO_CREATE_TOPICS_ENABLE", "false"),
        ("KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR", "3"),
        ("KAFKA_TRANSACTION_STATE_LOG_MIN_ISR", "2"),
    ] {
        assert_eq!(env_value(env, key), Some(expected), "broker {name}: {key}");
    }
}

/// The topics every deployment creates: the record of truth and the public topic (issue #14).
const TOPICS: [&str; 2] = ["ledger.events", "ledger.events.json"];

/// Asserts that the topic-creation commands create each of [`TOPICS`] once, with the durability
/// settings and one partition count for both (the public topic mirrors the events topic partition
/// by partition).
fn assert_topic_creation(where_: &str, commands: &[String]) {
    let mut partitions = Vec::new();
    for topic in TOPICS {
        let topic_flag = format!("--topic={topic}");
        let creating: Vec<&String> = commands
            .iter()
            .filter(|command| command.split(' ').any(|word| word == topic_flag))
            .collect();
        assert_eq!(
            creating.len(),
            1,
            "{where_}: one command creates {topic}: {commands:?}"
        );
        let words: Vec<&str> = creating[0].split(' ').collect();
        for flag in [
            "--create",
            "--if-not-exists",
            "--replication-factor=3",
            "--config=min.insync.replicas=2",
            "--config=unclean.leader.election.enable=false",
            "--config=retention.ms=-1",
        ] {
            assert!(
                words.contains(&flag),
                "{where_}: creation of {topic} lacks {flag}: {}",
                creating[0]
            );
        }
        assert!(creating[0].contains("kafka-topics.sh"), "{}", creating[0]);
        partitions.push(
            words
                .iter()
                .find(|word| word.starts_with("--partitions="))
                .map(|word| (*word).to_owned())
                .unwrap_or_else(|| panic!("{where_}: {topic} names no partition count")),
        );
    }
    assert!(
        partitions.windows(2).all(|pair| pair[0] == pair[1]),
        "{where_}: both topics need one partition count: {partitions:?}"
    );
}

#[test]
fn every_deploy_yaml_file_parses() {
    let files = yaml_files(&deploy_dir());
    assert!(
        files.len() >= 6,
        "expected docker-compose.yml and the k8s manifests, found {files:?}"
    );
    for file in files {
        assert!(
            !documents(&file).is_empty(),
            "{} holds no document",
            file.display()
        );
    }
}

#[test]
fn compose_runs_kraft_with_durable_settings() {
    let compose = documents(&deploy_dir().join("docker-compose.yml")).remove(0);
    let services = compose
        .get("services")
        .and_then(Value::as_mapping)
        .expect("services");
    let roles = |role: &str| -> Vec<(String, Vec<(String, String)>)> {
        services
            .iter()
            .map(|(name, service)| (text(name), environment(service)))
            .filter(|(_, env)| env_value(env, "KAFKA_PROCESS_ROLES") == Some(role))
            .collect()
    };
    let controllers = roles("controller");
    assert_eq!(controllers.len(), 3, "three KRaft controllers");
    let brokers = roles("broker");
    assert!(
        brokers.len() >= 3,
        "at least three brokers, found {}",
        brokers.len()
    );
    for (name, env) in &brokers {
        assert_durable_broker(name, env);
        let voters = env_value(env, "KAFKA_CONTROLLER_QUORUM_VOTERS").expect("quorum voters");
        assert_eq!(
            voters.split(',').count(),
            3,
            "broker {name} knows the three controllers"
        );
    }
    let topic_commands: Vec<String> = services
        .values()
        .map(command_line)
        .filter(|command| command.contains("kafka-topics.sh"))
        .collect();
    assert_topic_creation("compose", &topic_commands);
    let writer = services
        .get("ledger-writer")
        .expect("a ledger-writer service");
    let writer_log = env_value(&environment(writer), "LEDGER_LOG")
        .map(str::to_owned)
        .expect("LEDGER_LOG");
    assert!(
        writer_log.starts_with("kafka://") && !writer_log.contains("role=reader"),
        "{writer_log}"
    );
    let replicas = writer
        .get("deploy")
        .and_then(|deploy| deploy.get("replicas"))
        .map(text);
    assert_eq!(replicas.as_deref(), Some("1"), "exactly one writer");
    let projector = services
        .get("ledger-projector")
        .expect("a ledger-projector service");
    let projector_log = env_value(&environment(projector), "LEDGER_LOG")
        .map(str::to_owned)
        .expect("LEDGER_LOG");
    assert!(
        projector_log.contains("role=reader"),
        "projectors must not fence the writer: {projector_log}"
    );
}

#[test]
fn kubernetes_runs_kraft_with_durable_settings() {
    let documents: Vec<Value> = yaml_files(&deploy_dir().join("k8s"))
        .iter()
        .flat_map(|file| documents(file))
        .collect();
    let of_kind = |kind: &str| -> Vec<&Value> {
        documents
            .iter()
            .filter(|document| document.get("kind").map(text).as_deref() == Some(kind))
            .collect()
    };
    let containers = |workload: &Value| -> Vec<Value> {
        workload["spec"]["template"]["spec"]["containers"]
            .as_sequence()
            .cloned()
            .unwrap_or_default()
    };
    let mut controllers = 0;
    let mut brokers = 0;
    for set in of_kind("StatefulSet") {
        let replicas: u64 = text(&set["spec"]["replicas"])
            .parse()
            .expect("numeric replicas");
        for container in containers(set) {
            let env = environment(&container);
            match env_value(&env, "KAFKA_PROCESS_ROLES") {
                Some("controller") => controllers += replicas,
                Some("broker") => {
                    brokers += replicas;
                    assert_durable_broker(&text(&set["metadata"]["name"]), &env);
                }
                _ => {}
            }
        }
    }
    assert_eq!(controllers, 3, "three KRaft controllers");
    assert!(brokers >= 3, "at least three brokers, found {brokers}");
    let jobs = of_kind("Job");
    let topic_job = jobs
        .iter()
        .flat_map(|job| containers(job))
        .map(|container| command_line(&container));
    let topic_job = topic_job
        .filter(|command| command.contains("kafka-topics.sh"))
        .collect::<Vec<_>>();
    assert_topic_creation("k8s topic job", &topic_job);
    let writer = of_kind("Deployment")
        .into_iter()
        .find(|deployment| text(&deployment["metadata"]["name"]) == "ledger-writer")
        .expect("a ledger-writer Deployment");
    assert_eq!(text(&writer["spec"]["replicas"]), "1", "exactly one writer");
    assert_eq!(
        text(&writer["spec"]["strategy"]["type"]),
        "Recreate",
        "no rolling overlap of two writers"
    );
    let config = of_kind("ConfigMap")
        .into_iter()
        .find(|map| text(&map["metadata"]["name"]) == "ledger")
        .expect("ConfigMap ledger");
    assert!(text(&config["data"]["reader-log"]).contains("role=reader"));
    assert!(!text(&config["data"]["writer-log"]).contains("role=reader"));
    let projector = of_kind("StatefulSet")
        .into_iter()
        .any(|set| text(&set["metadata"]["name"]) == "ledger-projector");
    assert!(projector, "a ledger-projector StatefulSet");
}

/// Issue #13: the deployed writer speaks HTTPS, verifies client certificates against a mounted CA
/// bundle, and decides under a mounted policy, in both compose and Kubernetes.
#[test]
fn the_writer_is_deployed_behind_the_trust_boundary() {
    let assert_trust = |where_: &str, env: &[(String, String)], command: &str| {
        for name in [
            "LEDGER_TLS_CERT",
            "LEDGER_TLS_KEY",
            "LEDGER_CLIENT_CA",
            "LEDGER_POLICY",
        ] {
            assert!(
                env_value(env, name).is_some_and(|path| path.starts_with('/')),
                "{where_}: {name} names a mounted file"
            );
        }
        assert!(command.contains("serve"), "{where_}: {command}");
        assert!(
            !command.contains("--insecure-plaintext"),
            "{where_}: {command}"
        );
    };
    let compose = documents(&deploy_dir().join("docker-compose.yml")).remove(0);
    let writer = &compose["services"]["ledger-writer"];
    assert_trust("compose", &environment(writer), &command_line(writer));
    let volumes: Vec<String> = writer["volumes"]
        .as_sequence()
        .expect("the writer mounts its secrets and policy")
        .iter()
        .map(text)
        .collect();
    assert!(
        volumes.iter().any(|volume| volume.contains("policy.toml")),
        "{volumes:?}"
    );
    let k8s = documents(&deploy_dir().join("k8s/40-ledger-writer.yaml"));
    let deployment = k8s
        .iter()
        .find(|document| text(&document["kind"]) == "Deployment")
        .expect("the writer Deployment");
    let container = &deployment["spec"]["template"]["spec"]["containers"][0];
    assert_trust("k8s", &environment(container), &command_line(container));
    let mounts: Vec<String> = container["volumeMounts"]
        .as_sequence()
        .expect("volume mounts")
        .iter()
        .map(|mount| text(&mount["name"]))
        .collect();
    assert_eq!(mounts, ["tls", "client-ca", "policy"]);
}
