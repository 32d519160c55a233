//! Regions (source term: «Регион», S001 App. 1 col 4, App. 2 col 2) and funding programmes.
//!
//! KZ regions are the top-level KATO codes (9 digits) of the 17 oblasts and the 3 cities of republican
//! significance (E-01, E-03 count "oblasts, cities of republican significance and/or the capital").
//! KG regions are top-level СОАТЕ codes of the 7 oblasts and the cities of Bishkek and Osh. Both code
//! lists are **[K]** (general knowledge, RULES §3): verify against the current classifiers.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::jurisdiction::Jurisdiction;

/// (code, English name, Russian name) of the KZ top-level KATO units. **[K]** verify.
const KZ_REGIONS: [(&str, &str, &str); 20] = [
    ("100000000", "Abai Region", "область Абай"),
    ("110000000", "Akmola Region", "Акмолинская область"),
    ("150000000", "Aktobe Region", "Актюбинская область"),
    ("190000000", "Almaty Region", "Алматинская область"),
    ("230000000", "Atyrau Region", "Атырауская область"),
    (
        "270000000",
        "West Kazakhstan Region",
        "Западно-Казахстанская область",
    ),
    ("310000000", "Zhambyl Region", "Жамбылская область"),
    ("330000000", "Zhetysu Region", "область Жетісу"),
    ("350000000", "Karaganda Region", "Карагандинская область"),
    ("390000000", "Kostanay Region", "Костанайская область"),
    ("430000000", "Kyzylorda Region", "Кызылординская область"),
    ("470000000", "Mangystau Region", "Мангистауская область"),
    ("550000000", "Pavlodar Region", "Павлодарская область"),
    (
        "590000000",
        "North Kazakhstan Region",
        "Северо-Казахстанская область",
    ),
    ("610000000", "Turkistan Region", "Туркестанская область"),
    ("620000000", "Ulytau Region", "область Ұлытау"),
    (
        "630000000",
        "East Kazakhstan Region",
        "Восточно-Казахстанская область",
    ),
    ("710000000", "Astana", "город Астана"),
    ("750000000", "Almaty", "город Алматы"),
    ("790000000", "Shymkent", "город Шымкент"),
];

/// (code, English name, Russian name) of the KG top-level СОАТЕ units. **[K]** verify.
const KG_REGIONS: [(&str, &str, &str); 9] = [
    ("41702", "Issyk-Kul Region", "Иссык-Кульская область"),
    ("41703", "Jalal-Abad Region", "Джалал-Абадская область"),
    ("41704", "Naryn Region", "Нарынская область"),
    ("41705", "Batken Region", "Баткенская область"),
    ("41706", "Osh Region", "Ошская область"),
    ("41707", "Talas Region", "Таласская область"),
    ("41708", "Chuy Region", "Чуйская область"),
    ("41711", "Bishkek", "город Бишкек"),
    ("41721", "Osh", "город Ош"),
];

/// A region of a jurisdiction, identified by its classifier code.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Region {
    jurisdiction: Jurisdiction,
    index: u8,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "region \"{code}\" is not a {jurisdiction} region code (KZ: 9-digit top-level KATO, KG: 5-digit СОАТЕ)"
)]
pub struct UnknownRegion {
    pub jurisdiction: Jurisdiction,
    pub code: String,
}

impl Region {
    fn table(jurisdiction: Jurisdiction) -> &'static [(&'static str, &'static str, &'static str)] {
        match jurisdiction {
            Jurisdiction::KZ => &KZ_REGIONS,
            Jurisdiction::KG => &KG_REGIONS,
        }
    }

    /// Looks a region up by its code within a jurisdiction.
    pub fn new(jurisdiction: Jurisdiction, code: &str) -> Result<Region, UnknownRegion> {
        let table = Region::table(jurisdiction);
        let index = table.iter().position(|(known, _, _)| *known == code);
        match index.and_then(|index| u8::try_from(index).ok()) {
            Some(index) => Ok(Region {
                jurisdiction,
                index,
            }),
            None => Err(UnknownRegion {
                jurisdiction,
                code: code.to_owned(),
            }),
        }
    }

    /// Every region of a jurisdiction, in classifier order.
    pub fn all(jurisdiction: Jurisdiction) -> impl Iterator<Item = Region> {
        let count =
            u8::try_from(Region::table(jurisdiction).len()).expect("region tables are small");
        (0..count).map(move |index| Region {
            jurisdiction,
            index,
        })
    }

    pub fn jurisdiction(self) -> Jurisdiction {
        self.jurisdiction
    }

    fn entry(self) -> (&'static str, &'static str, &'static str) {
        Region::table(self.jurisdiction)[usize::from(self.index)]
    }

    pub fn code(self) -> &'static str {
        self.entry().0
    }

    pub fn name_en(self) -> &'static str {
        self.entry().1
    }

    pub fn name_ru(self) -> &'static str {
        self.entry().2
    }
}

impl fmt::Display for Region {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl fmt::Debug for Region {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Region({}:{} {})",
            self.jurisdiction,
            self.code(),
            self.name_en()
        )
    }
}

/// Wire form: `"KZ:710000000"`, so that a region is self-describing in every format.
impl Serialize for Region {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(&format_args!("{}:{}", self.jurisdiction, self.code()))
    }
}

impl<'de> Deserialize<'de> for Region {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

impl FromStr for Region {
    type Err = String;
    /// Parses `KZ:710000000` / `KG:41711`.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let (jurisdiction, code) = text
            .split_once(':')
            .ok_or_else(|| format!("region \"{text}\" must look like KZ:710000000"))?;
        let jurisdiction: Jurisdiction =
            jurisdiction.parse().map_err(|error| format!("{error}"))?;
        Region::new(jurisdiction, code).map_err(|error| error.to_string())
    }
}

impl schemars::JsonSchema for Region {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Region".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "pattern": "^(KZ:[0-9]{9}|KG:[0-9]{5})$",
            "description": "Jurisdiction and top-level classifier code (KZ KATO, KG СОАТЕ)."
        })
    }
}

/// A funding programme. Co-payment dispensing is allowed only under GOBMP and OSMS (KZ); the KG
/// additional programme is its own scheme; the penitentiary additional volume is budget procurement
/// via the Single Distributor, never retail co-payment.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Programme {
    /// Guaranteed volume of free medical care (source term: «ГОБМП», S001 §2(1)).
    Gobmp,
    /// Compulsory social health insurance (source term: «ОСМС», S001 §2(1)).
    Osms,
    /// Additional volume for persons held in pre-trial detention and penitentiary institutions (S000).
    PenitentiaryAdditional,
    /// The KG CHI additional programme (source term: «ММК кошумча программасы», S002 §2).
    KgChiAdditional,
}

impl Programme {
    pub const ALL: [Programme; 4] = [
        Programme::Gobmp,
        Programme::Osms,
        Programme::PenitentiaryAdditional,
        Programme::KgChiAdditional,
    ];

    /// The wire and CLI name, e.g. `GOBMP`.
    pub fn name(self) -> &'static str {
        match self {
            Programme::Gobmp => "GOBMP",
            Programme::Osms => "OSMS",
            Programme::PenitentiaryAdditional => "PENITENTIARY_ADDITIONAL",
            Programme::KgChiAdditional => "KG_CHI_ADDITIONAL",
        }
    }

    /// The jurisdiction whose law defines the programme.
    pub fn jurisdiction(self) -> Jurisdiction {
        match self {
            Programme::KgChiAdditional => Jurisdiction::KG,
            _ => Jurisdiction::KZ,
        }
    }

    /// whether retail co-payment dispensing may be reimbursed under this programme.
    pub fn allows_copayment(self) -> bool {
        matches!(self, Programme::Gobmp | Programme::Osms)
    }
}

impl fmt::Display for Programme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Programme {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Programme::ALL
            .into_iter()
            .find(|programme| programme.name().eq_ignore_ascii_case(text))
            .ok_or_else(|| format!("programme \"{text}\" is unknown: expected GOBMP, OSMS, PENITENTIARY_ADDITIONAL or KG_CHI_ADDITIONAL (A-34)"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// E-01/E-03 count 17 oblasts and 3 cities of republican significance in KZ.
    #[test]
    fn kz_has_seventeen_oblasts_and_three_cities() {
        let regions: Vec<Region> = Region::all(Jurisdiction::KZ).collect();
        assert_eq!(regions.len(), 20);
        let cities = regions
            .iter()
            .filter(|region| region.name_ru().starts_with("город"))
            .count();
        assert_eq!(cities, 3);
    }

    #[test]
    fn region_round_trips_and_unknown_codes_are_refused() {
        let astana = Region::new(Jurisdiction::KZ, "710000000").unwrap();
        assert_eq!(serde_json::to_string(&astana).unwrap(), "\"KZ:710000000\"");
        let back: Region = serde_json::from_str("\"KZ:710000000\"").unwrap();
        assert_eq!(back, astana);
        assert!(Region::new(Jurisdiction::KZ, "41711").is_err());
        assert!("KG:710000000".parse::<Region>().is_err());
    }

    /// co-payment only under GOBMP and OSMS.
    #[test]
    fn a34_copayment_programmes() {
        assert!(Programme::Gobmp.allows_copayment());
        assert!(Programme::Osms.allows_copayment());
        assert!(!Programme::PenitentiaryAdditional.allows_copayment());
        assert!(!Programme::KgChiAdditional.allows_copayment());
    }
}
