//! The printed forms of S001: Appendix 1 (summary registry, «Сводный реестр обеспеченных рецептов») and
//! Appendix 2 (payment act, «Акт оплаты фармацевтических услуг»), as presentation models filled from the
//! views. Column order and labels follow RULES §2.1 and §2.2 exactly.

use chrono::NaiveDate;
use ledger::domain::money::{Currency, Money};
use serde::Serialize;

/// The Russian column labels of Appendix 1, columns 1–17, as printed (RULES §2.1).
pub const APPENDIX1_HEADERS: [&str; 17] = [
    "№ п/п",
    "Наименование субъекта в сфере обращения ЛС и МИ, фактически обеспечившего рецепт",
    "БИН субъекта в сфере обращения ЛС и МИ, фактически обеспечившего рецепт",
    "Регион",
    "Код МКБ-10",
    "ИИН пациента",
    "№ и дата обеспеченного рецепта",
    "Международное непатентованное наименование обеспеченного лекарственного средства",
    "Торговое наименование обеспеченного лекарственного средства (ТН)",
    "Дозировка и Форма выпуска",
    "Единица измерения",
    "Предельная цена возмещения за единицу измерения, в тенге",
    "Номер фискального чека",
    "Номер (код) маркировки ЛС",
    "Цена возмещение стоимости Фондом, в тенге",
    "Цена оплаченная пациентом, в тенге (сумма сооплаты)",
    "Общая сумма, в тенге",
];

/// The Russian column labels of Appendix 2, columns 1–5 (RULES §2.2).
pub const APPENDIX2_HEADERS: [&str; 5] = [
    "№ п/п",
    "Регион",
    "Наименование поставщика",
    "Количество обеспеченных рецептов в рамках сооплаты",
    "Сумма возмещения Фондом, в тенге",
];

/// The contract and period a form is drawn up for (the header of both appendices).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct FormHeader {
    /// The document's own number and date («№ ___ от «__» ___ 20__ года»).
    pub document_number: String,
    pub document_date: NaiveDate,
    pub period_from: NaiveDate,
    pub period_to: NaiveDate,
    pub contract_number: String,
    pub contract_date: NaiveDate,
    /// The contract holder (pharmacy company or official consortium representative).
    pub supplier_name: String,
    pub supplier_bin: String,
    pub currency: Currency,
}

/// One line of Appendix 1, columns 1–17.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct RegistryLine {
    pub number: u32,
    pub dispenser_name: String,
    pub dispenser_bin: String,
    pub region: String,
    pub icd10: String,
    pub patient_iin: String,
    pub prescription_number: String,
    pub prescription_date: NaiveDate,
    pub inn: String,
    pub trade_name: String,
    pub dose_form: String,
    pub unit: String,
    /// Column 12: the limit reimbursement price per unit, a decimal string.
    pub limit_unit_price: String,
    pub fiscal_receipt: String,
    pub marking_code: String,
    /// Column 15: reimbursed by the Fund.
    pub fund: Money,
    /// Column 16: paid by the patient (co-payment).
    pub patient: Money,
    /// Column 17 = 15 + 16 (M-07).
    pub total: Money,
}

/// Appendix 1: the summary registry of one contract and period.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct RegistryForm {
    pub header: FormHeader,
    pub status: String,
    pub lines: Vec<RegistryLine>,
}

/// Footer totals of Appendix 1: Σ15 is the payable cost of the service, Σ16 and Σ17 are shown
/// for information.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct RegistryTotals {
    pub fund: Money,
    pub patient: Money,
    pub total: Money,
}

impl RegistryForm {
    pub fn totals(&self) -> RegistryTotals {
        let currency = self.header.currency;
        let sum = |pick: fn(&RegistryLine) -> Money| {
            Money::sum(
                currency,
                self.lines.iter().map(pick).collect::<Vec<_>>().iter(),
            )
            .expect("registry totals fit in i64 minor units")
        };
        RegistryTotals {
            fund: sum(|line| line.fund),
            patient: sum(|line| line.patient),
            total: sum(|line| line.total),
        }
    }
}

/// One row of Appendix 2: one region.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct ActRow {
    pub number: u32,
    pub region: String,
    pub supplier_name: String,
    /// Column 4: distinct (prescription number, date) pairs in the region.
    pub prescriptions: u64,
    /// Column 5: Σ column 15 of the region's registry lines.
    pub fund: Money,
}

/// Appendix 2: the payment act of one contract and period.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct ActForm {
    pub header: FormHeader,
    pub status: String,
    pub rows: Vec<ActRow>,
}

impl ActForm {
    pub fn total(&self) -> Money {
        Money::sum(
            self.header.currency,
            self.rows
                .iter()
                .map(|row| row.fund)
                .collect::<Vec<_>>()
                .iter(),
        )
        .expect("act total fits in i64 minor units")
    }

    pub fn prescriptions(&self) -> u64 {
        self.rows.iter().map(|row| row.prescriptions).sum()
    }
}

/// `12 345,67`: an amount as printed on a Russian-language form (space thousands, comma decimals).
pub fn printed_amount(amount: Money) -> String {
    let plain = amount.to_plain_string();
    let (sign, digits) = plain
        .strip_prefix('-')
        .map_or(("", plain.as_str()), |rest| ("-", rest));
    let (whole, fraction) = digits
        .split_once('.')
        .expect("plain amounts have two decimals");
    let mut grouped = String::new();
    for (index, digit) in whole.chars().enumerate() {
        if index > 0 && (whole.len() - index) % 3 == 0 {
            grouped.push('\u{a0}');
        }
        grouped.push(digit);
    }
    format!("{sign}{grouped},{fraction}")
}

const MONTHS_GENITIVE: [&str; 12] = [
    "января",
    "февраля",
    "марта",
    "апреля",
    "мая",
    "июня",
    "июля",
    "августа",
    "сентября",
    "октября",
    "ноября",
    "декабря",
];

/// `«05» января 2026 года`, the date style of the forms.
pub fn printed_date(date: NaiveDate) -> String {
    use chrono::Datelike;
    let month = MONTHS_GENITIVE[usize::try_from(date.month0()).expect("month index fits")];
    format!("«{:02}» {month} {} года", date.day(), date.year())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_print_with_grouping_and_comma() {
        assert_eq!(
            printed_amount(Money::new(123_456_789, Currency::KZT)),
            "1\u{a0}234\u{a0}567,89"
        );
        assert_eq!(printed_amount(Money::new(5, Currency::KZT)), "0,05");
        assert_eq!(
            printed_amount(Money::new(-100_000, Currency::KZT)),
            "-1\u{a0}000,00"
        );
    }

    #[test]
    fn dates_print_in_form_style() {
        assert_eq!(
            printed_date(NaiveDate::from_ymd_opt(2026, 1, 5).unwrap()),
            "«05» января 2026 года"
        );
        assert_eq!(
            printed_date(NaiveDate::from_ymd_opt(2025, 12, 31).unwrap()),
            "«31» декабря 2025 года"
        );
    }
}
