//! A deterministic, realistic national world for the demo and the benchmarks: pharmacy networks and a
//! consortium across the KZ regions, a KG part, patients, prescribers' diagnoses and a drug catalogue
//! with limit and trade-name prices. One `u64` seed decides everything (ChaCha8, stable across
//! platforms), so the same seed gives the same registries on every backend.

use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rust_decimal::Decimal;

use ledger::domain::ident::{Bin, Iin, check_digit};
use ledger::domain::jurisdiction::Jurisdiction;
use ledger::domain::region::Region;
use ledger::domain::values::{KgPin, KgTin};

/// A pharmacy company or consortium member and its network.
#[derive(Debug, Clone)]
pub struct Organisation {
    pub name: String,
    pub bin: Bin,
    /// Pharmacies as (licence number, region).
    pub pharmacies: Vec<(String, Region)>,
}

/// A co-payment contract holder: a single company or a consortium with an official representative.
#[derive(Debug, Clone)]
pub struct ContractHolder {
    pub contract_id: String,
    pub jurisdiction: Jurisdiction,
    /// The holder (the company, or the consortium's official representative).
    pub holder: Organisation,
    /// Consortium members other than the representative (empty for a single company).
    pub members: Vec<Organisation>,
}

impl ContractHolder {
    pub fn is_consortium(&self) -> bool {
        !self.members.is_empty()
    }

    /// Every organisation that may dispense under the contract.
    pub fn dispensers(&self) -> impl Iterator<Item = &Organisation> {
        std::iter::once(&self.holder).chain(self.members.iter())
    }
}

/// A Kyrgyz pharmacy applying to the CHI Additional Programme (E-09: any pharmacy may apply, no
/// network criterion). KG organisations are identified by their taxpayer number, never by a KZ BIN.
#[derive(Debug, Clone)]
pub struct KgPharmacy {
    pub contract_id: String,
    pub name: String,
    pub tin: KgTin,
    pub licence: String,
    pub region: Region,
}

/// A drug of the catalogue: INN, trade name, dose and form, unit, and prices per unit.
#[derive(Debug, Clone)]
pub struct Drug {
    pub inn: &'static str,
    pub trade_name: &'static str,
    pub dose_form: &'static str,
    pub unit: &'static str,
    pub icd10: &'static str,
    /// KZ: the limit reimbursement price per unit (M-02); KG: the reference price per unit (M-13).
    pub limit_unit_price: Decimal,
    /// The pharmacy's trade-name (retail) price per unit.
    pub trade_unit_price: Decimal,
    /// KG: the compensation per unit from the reference book (M-10); zero for KZ.
    pub compensation_unit_price: Decimal,
    pub gtin: String,
}

/// The whole simulated world.
#[derive(Debug, Clone)]
pub struct World {
    pub seed: u64,
    /// The KZ contract holders.
    pub contracts: Vec<ContractHolder>,
    /// The KG pharmacies and the MHIF's own taxpayer number.
    pub kg_pharmacies: Vec<KgPharmacy>,
    pub mhif_tin: KgTin,
    pub kz_drugs: Vec<Drug>,
    pub kg_drugs: Vec<Drug>,
    pub kz_patients: Vec<Iin>,
    pub kg_patients: Vec<KgPin>,
}

/// The KZ outpatient catalogue used by the demo: (INN, trade name, dose and form, unit, ICD-10, limit
/// price per unit in tenge, trade-name price per unit in tenge). Prices are illustrative, not official.
const KZ_CATALOGUE: [(&str, &str, &str, &str, &str, i64, i64); 12] = [
    (
        "Метформин",
        "Сиофор 850",
        "850 мг, таблетки",
        "таблетка",
        "E11.9",
        4150,
        3990,
    ),
    (
        "Метформин",
        "Глюкофаж 1000",
        "1000 мг, таблетки",
        "таблетка",
        "E11.9",
        5200,
        6100,
    ),
    (
        "Гликлазид",
        "Диабетон MR",
        "60 мг, таблетки",
        "таблетка",
        "E11.9",
        8800,
        9450,
    ),
    (
        "Инсулин гларгин",
        "Лантус СолоСтар",
        "100 ЕД/мл, 3 мл",
        "шприц-ручка",
        "E10.9",
        1_250_000,
        1_310_000,
    ),
    (
        "Эналаприл",
        "Энап",
        "10 мг, таблетки",
        "таблетка",
        "I10",
        1900,
        1750,
    ),
    (
        "Амлодипин",
        "Норваск",
        "5 мг, таблетки",
        "таблетка",
        "I10",
        3100,
        4300,
    ),
    (
        "Бисопролол",
        "Конкор",
        "5 мг, таблетки",
        "таблетка",
        "I25.1",
        3600,
        3600,
    ),
    (
        "Аторвастатин",
        "Аторис",
        "20 мг, таблетки",
        "таблетка",
        "I25.1",
        5400,
        5950,
    ),
    (
        "Сальбутамол",
        "Вентолин",
        "100 мкг/доза, 200 доз",
        "ингалятор",
        "J45.9",
        185_000,
        199_000,
    ),
    (
        "Левотироксин натрия",
        "Эутирокс",
        "50 мкг, таблетки",
        "таблетка",
        "E03.9",
        1200,
        1290,
    ),
    (
        "Клопидогрел",
        "Плавикс",
        "75 мг, таблетки",
        "таблетка",
        "I25.1",
        21_000,
        27_500,
    ),
    (
        "Вальпроевая кислота",
        "Депакин Хроно",
        "500 мг, таблетки",
        "таблетка",
        "G40.9",
        17_300,
        17_300,
    ),
];

/// The KG reference book used by the demo: (INN, trade name, dose and form, unit, ICD-10, reference
/// price per unit in som ×100, retail price per unit ×100, compensation per unit ×100).
/// (INN, trade name, dose and form, unit, ICD-10, reference, retail, compensation), prices ×100.
type KgCatalogueEntry = (
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    i64,
    i64,
    i64,
);

/// Two generic groups have a second trade name (M-18: a pharmacist may dispense either against a
/// prescription of the group); the twins come last, so the first four entries keep their ids.
const KG_CATALOGUE: [KgCatalogueEntry; 6] = [
    (
        "Эналаприл",
        "Эналаприл-Дарница",
        "10 мг, таблетки",
        "таблетка",
        "I10",
        250,
        300,
        175,
    ),
    (
        "Метформин",
        "Метформин-Тева",
        "850 мг, таблетки",
        "таблетка",
        "E11.9",
        600,
        720,
        420,
    ),
    (
        "Амлодипин",
        "Амлодипин Штада",
        "5 мг, таблетки",
        "таблетка",
        "I10",
        400,
        450,
        280,
    ),
    (
        "Сальбутамол",
        "Сальбутамол-Нео",
        "100 мкг/доза, 200 доз",
        "ингалятор",
        "J45.9",
        21_000,
        24_000,
        14_700,
    ),
    (
        "Метформин",
        "Сиофор 850",
        "850 мг, таблетки",
        "таблетка",
        "E11.9",
        600,
        690,
        420,
    ),
    (
        "Эналаприл",
        "Энап 10",
        "10 мг, таблетки",
        "таблетка",
        "I10",
        250,
        320,
        175,
    ),
];

impl World {
    /// Builds the world for `seed`: `networks` single-company KZ contracts (each ≥ 70 pharmacies in ≥ 3
    /// regions, E-01), one KZ consortium (≥ 200 pharmacies in ≥ 5 regions, E-03) and `kg_pharmacies` KG
    /// pharmacies, with `patients` patients per jurisdiction. The KG part draws from its own stream of
    /// the seed, so that it can grow without changing the KZ world of a seed.
    pub fn generate(seed: u64, networks: u32, kg_pharmacies: u32, patients: u32) -> World {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut contracts = Vec::new();
        for index in 0..networks {
            let holder = organisation(
                &mut rng,
                &format!("ТОО «Аптечная сеть {}»", index + 1),
                70 + index % 20,
                3 + index % 4,
            );
            contracts.push(ContractHolder {
                contract_id: format!("KZ-{:03}", index + 1),
                jurisdiction: Jurisdiction::KZ,
                holder,
                members: Vec::new(),
            });
        }
        contracts.push(consortium(&mut rng, networks + 1));
        let kz_patients = (0..patients).map(|_| random_iin(&mut rng)).collect();
        let kz_drugs = catalogue_kz(&mut rng);
        let mut kg_rng = ChaCha8Rng::seed_from_u64(seed ^ KG_STREAM);
        World {
            seed,
            contracts,
            kg_pharmacies: (1..=kg_pharmacies)
                .map(|number| kg_pharmacy(&mut kg_rng, number))
                .collect(),
            mhif_tin: random_kg_tin(&mut kg_rng),
            kz_drugs,
            kg_drugs: catalogue_kg(&mut kg_rng),
            kz_patients,
            kg_patients: (0..patients).map(|_| random_kg_pin(&mut kg_rng)).collect(),
        }
    }
}

/// Salt of the KG part's random stream.
const KG_STREAM: u64 = 0x4B47_0000_0000_0001;

/// The `number`-th KG pharmacy, in the regions in turn.
fn kg_pharmacy(rng: &mut ChaCha8Rng, number: u32) -> KgPharmacy {
    let regions: Vec<Region> = Region::all(Jurisdiction::KG).collect();
    let region = regions[usize::try_from(number - 1).expect("small index") % regions.len()];
    KgPharmacy {
        contract_id: format!("KG-{number:03}"),
        name: format!("ОсОО «Дарыкана {number}»"),
        tin: random_kg_tin(rng),
        licence: format!("KG-LIC-{number:05}"),
        region,
    }
}

fn organisation(rng: &mut ChaCha8Rng, name: &str, pharmacies: u32, regions: u32) -> Organisation {
    let mut all: Vec<Region> = Region::all(Jurisdiction::KZ).collect();
    all.shuffle(rng);
    organisation_in(
        rng,
        name,
        pharmacies,
        &all[..usize::try_from(regions).expect("small count")],
    )
}

fn organisation_in(
    rng: &mut ChaCha8Rng,
    name: &str,
    pharmacies: u32,
    chosen: &[Region],
) -> Organisation {
    let bin = random_bin(rng);
    let pharmacies = (0..pharmacies)
        .map(|index| {
            let region = chosen[usize::try_from(index).expect("small index") % chosen.len()];
            (format!("LIC-{}-{:04}", bin, index + 1), region)
        })
        .collect();
    Organisation {
        name: name.to_owned(),
        bin,
        pharmacies,
    }
}

/// A consortium of a representative and three members whose networks together cover 8 regions (E-03).
fn consortium(rng: &mut ChaCha8Rng, number: u32) -> ContractHolder {
    let mut all: Vec<Region> = Region::all(Jurisdiction::KZ).collect();
    all.shuffle(rng);
    let name = "ТОО «Консорциум Дәрі-Альянс» (официальный представитель)";
    let holder = organisation_in(rng, name, 60, &all[0..2]);
    let members = (1..=3)
        .map(|index| {
            let regions = &all[index * 2..index * 2 + 2];
            organisation_in(
                rng,
                &format!("ТОО «Участник консорциума {index}»"),
                55,
                regions,
            )
        })
        .collect();
    ContractHolder {
        contract_id: format!("KZ-{number:03}"),
        jurisdiction: Jurisdiction::KZ,
        holder,
        members,
    }
}

fn digits_with_check(rng: &mut ChaCha8Rng, prefix: &[u8]) -> String {
    loop {
        let mut first_eleven = [0u8; 11];
        first_eleven[..prefix.len()].copy_from_slice(prefix);
        for digit in &mut first_eleven[prefix.len()..] {
            *digit = rng.gen_range(0..10);
        }
        if let Some(check) = check_digit(&first_eleven) {
            return first_eleven
                .iter()
                .chain(std::iter::once(&check))
                .map(|digit| char::from(b'0' + digit))
                .collect();
        }
    }
}

/// A valid BIN: registration year and month, type 4 (resident legal entity), head office (RULES §3).
pub fn random_bin(rng: &mut ChaCha8Rng) -> Bin {
    let year: u8 = rng.gen_range(0..24);
    let month: u8 = rng.gen_range(1..13);
    let prefix = [year / 10, year % 10, month / 10, month % 10, 4, 0];
    digits_with_check(rng, &prefix)
        .parse()
        .expect("generated BINs carry a valid check digit")
}

/// A valid IIN of a person born 1940–2009 (RULES §3).
pub fn random_iin(rng: &mut ChaCha8Rng) -> Iin {
    let year: u16 = rng.gen_range(1940..2010);
    let month: u8 = rng.gen_range(1..13);
    let day: u8 = rng.gen_range(1..29);
    let century_sex: u8 = if year < 2000 {
        rng.gen_range(3..5)
    } else {
        rng.gen_range(5..7)
    };
    let yy = u8::try_from(year % 100).expect("two digits");
    let prefix = [
        yy / 10,
        yy % 10,
        month / 10,
        month % 10,
        day / 10,
        day % 10,
        century_sex,
    ];
    digits_with_check(rng, &prefix)
        .parse()
        .expect("generated IINs carry a valid check digit")
}

/// A KG organisation's taxpayer number: a legal-entity digit, the registration date DDMMYYYY and a
/// 5-digit serial (format only, RULES §3 **[K]**).
pub fn random_kg_tin(rng: &mut ChaCha8Rng) -> KgTin {
    let day: u8 = rng.gen_range(1..29);
    let month: u8 = rng.gen_range(1..13);
    let year: u16 = rng.gen_range(1995..2024);
    let serial: u32 = rng.gen_range(0..100_000);
    KgTin::new(format!("0{day:02}{month:02}{year:04}{serial:05}"))
        .expect("14 generated digits are a KG taxpayer number")
}

/// A KG PIN: sex digit, birth date DDMMYYYY, 5-digit serial (format only, RULES §3 **[K]**).
pub fn random_kg_pin(rng: &mut ChaCha8Rng) -> KgPin {
    let sex: u8 = rng.gen_range(1..3);
    let day: u8 = rng.gen_range(1..29);
    let month: u8 = rng.gen_range(1..13);
    let year: u16 = rng.gen_range(1940..2010);
    let serial: u32 = rng.gen_range(0..100_000);
    KgPin::new(format!("{sex}{day:02}{month:02}{year:04}{serial:05}"))
        .expect("14 generated digits are a KG PIN")
}

fn gtin(rng: &mut ChaCha8Rng) -> String {
    (0..14)
        .map(|index| {
            if index == 0 {
                '0'
            } else {
                char::from(b'0' + rng.gen_range(0..10u8))
            }
        })
        .collect()
}

fn catalogue_kz(rng: &mut ChaCha8Rng) -> Vec<Drug> {
    KZ_CATALOGUE
        .iter()
        .map(
            |&(inn, trade_name, dose_form, unit, icd10, limit, trade)| Drug {
                inn,
                trade_name,
                dose_form,
                unit,
                icd10,
                limit_unit_price: Decimal::new(limit, 2),
                trade_unit_price: Decimal::new(trade, 2),
                compensation_unit_price: Decimal::ZERO,
                gtin: gtin(rng),
            },
        )
        .collect()
}

fn catalogue_kg(rng: &mut ChaCha8Rng) -> Vec<Drug> {
    KG_CATALOGUE
        .iter()
        .map(
            |&(inn, trade_name, dose_form, unit, icd10, reference, retail, compensation)| Drug {
                inn,
                trade_name,
                dose_form,
                unit,
                icd10,
                limit_unit_price: Decimal::new(reference, 2),
                trade_unit_price: Decimal::new(retail, 2),
                compensation_unit_price: Decimal::new(compensation, 2),
                gtin: gtin(rng),
            },
        )
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn same_seed_same_world() {
        let first = World::generate(7, 3, 2, 50);
        let second = World::generate(7, 3, 2, 50);
        assert_eq!(format!("{first:?}"), format!("{second:?}"));
        assert_ne!(
            format!("{first:?}"),
            format!("{:?}", World::generate(8, 3, 2, 50))
        );
    }

    /// The KG part draws from its own stream: adding KG pharmacies leaves the KZ world of a seed as
    /// it was, and every KG pharmacy has its own valid taxpayer number.
    #[test]
    fn kg_part_leaves_the_kz_world_alone() {
        let without = World::generate(7, 3, 0, 50);
        let with = World::generate(7, 3, 4, 50);
        assert_eq!(
            format!("{:?}", without.contracts),
            format!("{:?}", with.contracts)
        );
        assert_eq!(without.kz_patients, with.kz_patients);
        assert_eq!(
            format!("{:?}", without.kz_drugs),
            format!("{:?}", with.kz_drugs)
        );
        let tins: BTreeSet<String> = with
            .kg_pharmacies
            .iter()
            .map(|p| p.tin.to_string())
            .collect();
        assert_eq!(tins.len(), 4);
        assert!(with.kg_pharmacies.iter().all(|pharmacy| {
            pharmacy.region.jurisdiction() == Jurisdiction::KG && pharmacy.tin.as_str().len() == 14
        }));
    }

    /// E-01 and E-03: the generated networks meet the KZ eligibility thresholds.
    #[test]
    fn e01_e03_generated_networks_are_eligible() {
        let world = World::generate(1, 4, 1, 10);
        for contract in world
            .contracts
            .iter()
            .filter(|contract| contract.jurisdiction == Jurisdiction::KZ)
        {
            let pharmacies: Vec<&(String, Region)> = contract
                .dispensers()
                .flat_map(|org| &org.pharmacies)
                .collect();
            let regions: BTreeSet<Region> = pharmacies.iter().map(|(_, region)| *region).collect();
            let (count_min, regions_min) = if contract.is_consortium() {
                (200, 5)
            } else {
                (70, 3)
            };
            assert!(
                pharmacies.len() >= count_min,
                "{} has {} pharmacies",
                contract.contract_id,
                pharmacies.len()
            );
            assert!(
                regions.len() >= regions_min,
                "{} has {} regions",
                contract.contract_id,
                regions.len()
            );
        }
    }
}
