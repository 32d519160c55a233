//! Contract rules, one test per rule ID (given/when/then through the test world).

use super::events::{Party, TerminationGround};
use super::*;
use crate::domain::rules::RuleParameters;
use crate::domain::testkit::*;
use crate::domain::values::DocumentNumber;

const RECEIVED: &str = "2026-01-05T10:00:00+05:00";
const DECIDED: &str = "2026-01-08T10:00:00+05:00";

fn receive(world: &mut World, application: ReceiveApplication) -> Vec<Event> {
    world
        .contract(ContractCommand::ReceiveApplication(application))
        .expect("application accepted")
}

fn decide_review(world: &mut World) -> Vec<Event> {
    world
        .contract(ContractCommand::ReviewApplication(review(DECIDED)))
        .expect("review decided")
}

fn refusal_rules(events: &[Event]) -> Vec<String> {
    match events {
        [Event::ContractRefused(refused)] => refused
            .reasons
            .iter()
            .map(|reason| reason.rule.clone())
            .collect(),
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[test]
fn c01_d01_application_starts_contract_review_five_working_days() {
    let mut world = World::kz();
    let events = receive(
        &mut world,
        company_application(RECEIVED, network("PH", 70, 3, holder_bin())),
    );
    let Event::ContractApplicationReceived(received) = &events[0] else {
        panic!("{events:?}")
    };
    // 5 Jan does not count; 7 Jan is a holiday: 6, 8, 9, 12, 13.
    assert_eq!(received.review.rule, ClockRule::ContractReview);
    assert_eq!(received.review.started_on, day("2026-01-05"));
    assert_eq!(received.review.due, day("2026-01-13"));
    assert_eq!(world.contract.stage, ContractStage::UnderReview);
}

#[test]
fn a03_after_hours_deeming_is_off_by_default_and_configurable() {
    let saturday = "2026-01-10T10:00:00+05:00";
    let mut strict = World::kz();
    let events = receive(
        &mut strict,
        company_application(saturday, network("PH", 70, 3, holder_bin())),
    );
    let Event::ContractApplicationReceived(received) = &events[0] else {
        panic!()
    };
    assert_eq!(received.review.due, day("2026-01-16"));
    let mut deeming = World::with_parameters(RuleParameters {
        after_hours_deeming: true,
        ..RuleParameters::kz_2025()
    });
    let events = receive(
        &mut deeming,
        company_application(saturday, network("PH", 70, 3, holder_bin())),
    );
    let Event::ContractApplicationReceived(received) = &events[0] else {
        panic!()
    };
    assert_eq!(received.review.started_on, day("2026-01-12"));
    assert_eq!(received.review.due, day("2026-01-19"));
}

#[test]
fn e01_single_company_needs_seventy_pharmacies_in_three_regions() {
    let mut world = World::kz();
    receive(
        &mut world,
        company_application(RECEIVED, network("PH", 70, 3, holder_bin())),
    );
    let events = decide_review(&mut world);
    let Event::ContractConcluded(concluded) = &events[0] else {
        panic!("{events:?}")
    };
    assert_eq!((concluded.pharmacies, concluded.regions), (70, 3));
    assert_eq!(concluded.signature.signer, fund_bin());

    for (count, regions) in [(69, 3), (70, 2)] {
        let mut world = World::kz();
        receive(
            &mut world,
            company_application(RECEIVED, network("PH", count, regions, holder_bin())),
        );
        assert_eq!(refusal_rules(&decide_review(&mut world)), ["E-01"]);
        assert_eq!(world.contract.stage, ContractStage::Refused);
    }
}

#[test]
fn a32_pharmacies_are_counted_by_unique_licence() {
    let mut pharmacies = network("PH", 70, 3, holder_bin());
    pharmacies[69].licence = pharmacies[0].licence.clone();
    let mut world = World::kz();
    receive(&mut world, company_application(RECEIVED, pharmacies));
    assert_eq!(refusal_rules(&decide_review(&mut world)), ["E-01"]);
}

#[test]
fn a31_a32_pharmacies_of_strangers_do_not_count() {
    let mut pharmacies = network("PH", 69, 3, holder_bin());
    pharmacies.extend(network("XX", 1, 1, stranger_bin()));
    let mut world = World::kz();
    receive(&mut world, company_application(RECEIVED, pharmacies));
    assert_eq!(refusal_rules(&decide_review(&mut world)), ["E-01"]);
}

#[test]
fn e02_every_pharmacy_must_work_with_the_iss() {
    let mut pharmacies = network("PH", 70, 3, holder_bin());
    pharmacies[3].iss_connected = false;
    let mut world = World::kz();
    receive(&mut world, company_application(RECEIVED, pharmacies));
    assert_eq!(refusal_rules(&decide_review(&mut world)), ["E-02"]);
}

#[test]
fn e05_iss_test_act_is_required() {
    let mut application = company_application(RECEIVED, network("PH", 70, 3, holder_bin()));
    application.iss_test_act = None;
    let mut world = World::kz();
    receive(&mut world, application);
    assert_eq!(refusal_rules(&decide_review(&mut world)), ["E-05"]);
}

fn consortium_network(count: u32, regions: usize) -> Vec<super::events::NetworkPharmacy> {
    (1..=4)
        .flat_map(|member| {
            network(
                &format!("M{member}"),
                count / 4,
                regions,
                member_bin(member),
            )
        })
        .collect()
}

#[test]
fn e03_consortium_needs_two_hundred_pharmacies_in_five_regions() {
    let mut world = World::kz();
    receive(
        &mut world,
        consortium_application(RECEIVED, 4, consortium_network(200, 5)),
    );
    let events = decide_review(&mut world);
    let Event::ContractConcluded(concluded) = &events[0] else {
        panic!("{events:?}")
    };
    assert_eq!(concluded.holder, member_bin(1));
    let mut world = World::kz();
    receive(
        &mut world,
        consortium_application(RECEIVED, 4, consortium_network(196, 5)),
    );
    assert_eq!(refusal_rules(&decide_review(&mut world)), ["E-03"]);
    let mut world = World::kz();
    receive(
        &mut world,
        consortium_application(RECEIVED, 4, consortium_network(200, 4)),
    );
    assert_eq!(refusal_rules(&decide_review(&mut world)), ["E-03"]);
}

fn with_agreement(
    edit: impl FnOnce(&mut super::events::ConsortiumAgreement),
) -> ReceiveApplication {
    let mut application = consortium_application(RECEIVED, 4, consortium_network(200, 5));
    if let Applicant::Consortium { agreement, .. } = &mut application.applicant {
        edit(agreement);
    }
    application
}

#[test]
fn e04_consortium_agreement_gives_equal_terms() {
    let mut world = World::kz();
    receive(
        &mut world,
        with_agreement(|agreement| agreement.equal_reimbursement_terms = false),
    );
    assert_eq!(refusal_rules(&decide_review(&mut world)), ["E-04"]);
}

#[test]
fn e06_consortium_contracts_through_its_named_representative() {
    let mut world = World::kz();
    receive(
        &mut world,
        with_agreement(|agreement| agreement.representative_named = false),
    );
    assert_eq!(refusal_rules(&decide_review(&mut world)), ["E-06"]);
}

#[test]
fn s02_s03_conclusion_needs_the_funds_accepted_signature() {
    let mut world = World::kz();
    receive(
        &mut world,
        company_application(RECEIVED, network("PH", 70, 3, holder_bin())),
    );
    let mut command = review(DECIDED);
    command.fund_signature = signed_by(holder_bin());
    let error = world
        .contract(ContractCommand::ReviewApplication(command))
        .unwrap_err();
    assert_eq!(error.rule(), "S-03");
    world.signatures = Box::new(RejectAllSignatures);
    let error = world
        .contract(ContractCommand::ReviewApplication(review(DECIDED)))
        .unwrap_err();
    assert_eq!(error.rule(), "S-02");
    assert!(
        error.to_string().contains("was revoked before signing"),
        "{error}"
    );
    assert_eq!(
        world.contract.stage,
        ContractStage::UnderReview,
        "a refusal appends nothing"
    );
}

#[test]
fn a15_kg_applications_never_get_kz_rules() {
    let mut application = company_application(RECEIVED, network("PH", 70, 3, holder_bin()));
    application.jurisdiction = Jurisdiction::KG;
    let error = World::kz()
        .contract(ContractCommand::ReceiveApplication(application))
        .unwrap_err();
    assert_eq!(error.rule(), "A-15");
}

fn change(at_text: &str) -> ChangePharmacyNetwork {
    ChangePharmacyNetwork {
        changed_at: at(at_text),
        added: vec![],
        removed: vec![],
        members_joined: vec![],
        members_left: vec![],
    }
}

#[test]
fn a32_network_shrink_raises_a_ground_never_a_termination() {
    let mut world = World::kz().with_concluded_contract();
    let mut command = change("2026-02-02T10:00:00+05:00");
    command.removed = vec![PharmacyLicence::new("PH-0000").unwrap()];
    let events = world
        .contract(ContractCommand::ChangePharmacyNetwork(command.clone()))
        .unwrap();
    let types: Vec<&str> = events.iter().map(Event::event_type).collect();
    assert_eq!(
        types,
        ["PharmacyNetworkChanged", "TerminationGroundDetected"]
    );
    let Event::TerminationGroundDetected(ground) = &events[1] else {
        panic!()
    };
    assert_eq!(
        (ground.ground, ground.finding.rule.as_str()),
        (TerminationGround::NetworkRequirements, "E-01")
    );
    assert_eq!(world.contract.stage, ContractStage::Concluded);
    // A second shrink below the threshold raises no new ground for the same criterion.
    command.removed = vec![PharmacyLicence::new("PH-0001").unwrap()];
    let events = world
        .contract(ContractCommand::ChangePharmacyNetwork(command))
        .unwrap();
    assert_eq!(events.len(), 1);
}

#[test]
fn e05_a32_iss_withdrawal_is_a_security_ground() {
    let mut world = World::kz().with_concluded_contract();
    let command = ChangeIssCertification {
        changed_at: at("2026-02-02T10:00:00+05:00"),
        certified: false,
        test_act: None,
    };
    let events = world
        .contract(ContractCommand::ChangeIssCertification(command))
        .unwrap();
    let Event::TerminationGroundDetected(ground) = &events[1] else {
        panic!("{events:?}")
    };
    assert_eq!(ground.ground, TerminationGround::InformationSecurity);
}

fn notice(grounds: Vec<TerminationGround>) -> SendTerminationNotice {
    SendTerminationNotice {
        notice: DocumentNumber::new("N-1").unwrap(),
        sent_at: at("2026-03-02T10:00:00+05:00"),
        sender: Party::Fund,
        grounds,
        signature: signed_by(fund_bin()),
    }
}

#[test]
fn c04_a09_notice_must_name_a_section_29_ground() {
    let mut world = World::kz().with_concluded_contract();
    let error = world
        .contract(ContractCommand::SendTerminationNotice(notice(vec![])))
        .unwrap_err();
    assert_eq!(error.rule(), "C-04");
}

#[test]
fn c05_a25_contract_ends_on_receipt_of_the_notice() {
    let mut world = World::kz().with_concluded_contract();
    world
        .contract(ContractCommand::SendTerminationNotice(notice(vec![
            TerminationGround::RegistrySubmission,
        ])))
        .unwrap();
    assert_eq!(world.contract.stage, ContractStage::NoticeSent);
    assert_eq!(
        world.contract.terminated_at, None,
        "sending does not end the contract"
    );
    let received_at = at("2026-03-04T09:00:00+05:00");
    world
        .contract(ContractCommand::ReceiveTerminationNotice(
            ReceiveTerminationNotice { received_at },
        ))
        .unwrap();
    assert_eq!(world.contract.stage, ContractStage::Terminated);
    assert_eq!(world.contract.terminated_at, Some(received_at));
}

#[test]
fn a33_consortium_membership_is_kept_over_time() {
    let mut world = World::kz();
    receive(
        &mut world,
        consortium_application(RECEIVED, 4, consortium_network(200, 5)),
    );
    decide_review(&mut world);
    let mut command = change("2026-02-01T00:00:00+05:00");
    command.members_left = vec![member_bin(4)];
    world
        .contract(ContractCommand::ChangePharmacyNetwork(command))
        .unwrap();
    assert!(
        world
            .contract
            .may_dispense(member_bin(4), at("2026-01-31T12:00:00+05:00"))
    );
    assert!(
        !world
            .contract
            .may_dispense(member_bin(4), at("2026-02-01T12:00:00+05:00"))
    );
    assert!(
        world
            .contract
            .may_dispense(member_bin(1), at("2026-02-01T12:00:00+05:00"))
    );
    assert!(
        !world
            .contract
            .may_dispense(stranger_bin(), at("2026-01-20T12:00:00+05:00"))
    );
}

proptest::proptest! {
    /// The same events always fold to the same state.
    #[test]
    fn contract_fold_is_deterministic(removed in 0usize..5, certified in proptest::bool::ANY) {
        let mut world = World::kz().with_concluded_contract();
        let mut command = change("2026-02-02T10:00:00+05:00");
        command.removed = (0..removed).map(|n| PharmacyLicence::new(format!("PH-{n:04}")).unwrap()).collect();
        world.contract(ContractCommand::ChangePharmacyNetwork(command)).unwrap();
        let iss = ChangeIssCertification { changed_at: at("2026-02-03T10:00:00+05:00"), certified, test_act: None };
        world.contract(ContractCommand::ChangeIssCertification(iss)).unwrap();
        let replayed = world.log.iter().fold(ContractState::default(), evolve);
        proptest::prop_assert_eq!(&replayed, &world.contract);
        let again = world.log.iter().fold(ContractState::default(), evolve);
        proptest::prop_assert_eq!(replayed, again);
    }
}

/// the decision cannot be dated before the application was received.
#[test]
fn a02_review_is_not_dated_before_receipt() {
    let mut world = World::kz();
    receive(
        &mut world,
        company_application(RECEIVED, network("PH", 70, 3, holder_bin())),
    );
    let error = world
        .contract(ContractCommand::ReviewApplication(review(
            "2026-01-04T10:00:00+05:00",
        )))
        .unwrap_err();
    assert_eq!(error.rule(), "A-02");
}

/// only a consortium has members; a company cannot add one to widen who may claim.
#[test]
fn a33_a_pharmacy_company_has_no_members_to_add() {
    let mut world = World::kz().with_concluded_contract();
    let mut command = change("2026-02-02T10:00:00+05:00");
    command.members_joined = vec![super::events::ConsortiumMember {
        bin: stranger_bin(),
        name: crate::domain::values::OrganisationName::new("Other LLP").unwrap(),
    }];
    let error = world
        .contract(ContractCommand::ChangePharmacyNetwork(command))
        .unwrap_err();
    assert_eq!(error.rule(), "A-33");
    assert!(
        !world
            .contract
            .may_dispense(stranger_bin(), at("2026-02-03T10:00:00+05:00"))
    );
}
