//! Printable HTML of Appendix 1 and Appendix 2: A4 landscape, the form's title and header lines with the
//! blanks filled in, the numbered column row, the footer total and the two signature blocks
//! («Представлено:» / «Согласовано:»), ready to print and sign.

use std::fmt::Write;

use super::forms::{
    APPENDIX1_HEADERS, APPENDIX2_HEADERS, ActForm, FormHeader, RegistryForm, printed_amount,
    printed_date,
};

const STYLE: &str = "@page { size: A4 landscape; margin: 12mm; }
body { font-family: 'Times New Roman', serif; font-size: 10pt; color: #000; }
.appendix { text-align: right; font-size: 9pt; }
h1 { font-size: 12pt; text-align: center; margin: 6pt 0; }
p.header { margin: 2pt 0; }
table { border-collapse: collapse; width: 100%; margin-top: 8pt; }
th, td { border: 1px solid #000; padding: 2pt 3pt; vertical-align: top; }
th { font-weight: normal; font-size: 8pt; }
tr.numbers th { font-size: 8pt; text-align: center; }
td.amount { text-align: right; white-space: nowrap; }
p.total { margin-top: 8pt; font-weight: bold; }
table.signatures, table.signatures td { border: none; }
table.signatures td { width: 50%; padding-top: 14pt; }
.line { display: inline-block; min-width: 45mm; border-bottom: 1px solid #000; }
";

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for character in text.chars() {
        match character {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(character),
        }
    }
    out
}

fn document_start(out: &mut String, title: &str, appendix: &str) {
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"ru\">\n<head>\n<meta charset=\"utf-8\">\n<title>{}</title>\n<style>\n{STYLE}</style>\n</head>\n<body>\n<p class=\"appendix\">{appendix}<br>к Правилам осуществления сооплаты<br>Форма</p>\n",
        escape(title)
    );
}

fn period_line(header: &FormHeader) -> String {
    format!(
        "за период с {} по {} по Договору оплаты стоимости фармацевтических услуг в рамках сооплаты № {} от {}",
        printed_date(header.period_from),
        printed_date(header.period_to),
        escape(&header.contract_number),
        printed_date(header.contract_date)
    )
}

fn signatures(out: &mut String) {
    out.push_str(
        "<table class=\"signatures\">\n<tr><td>Представлено:<br>Субъект в сфере обращения лекарственных средств и медицинских изделий и (или) официальный представитель консорциума<br><span class=\"line\"></span> <span class=\"line\"></span></td>\n<td>Согласовано:<br>НАО «Фонд социального медицинского страхования»<br><span class=\"line\"></span> <span class=\"line\"></span></td></tr>\n</table>\n",
    );
}

fn header_row(out: &mut String, headers: &[&str], numbers: &[&str]) {
    out.push_str("<table>\n<thead>\n<tr>");
    for label in headers {
        let _ = write!(out, "<th>{}</th>", escape(label));
    }
    out.push_str("</tr>\n<tr class=\"numbers\">");
    for number in numbers {
        let _ = write!(out, "<th>{number}</th>");
    }
    out.push_str("</tr>\n</thead>\n<tbody>\n");
}

/// Appendix 1 as a printable HTML document.
pub fn registry_html(form: &RegistryForm) -> String {
    let header = &form.header;
    let mut out = String::new();
    let title = "Сводный реестр обеспеченных рецептов субъектами в сфере обращения лекарственных средств и медицинских изделий и (или) консорциумом";
    document_start(&mut out, title, "Приложение 1");
    let _ = write!(
        out,
        "<h1>{title}</h1>\n<p class=\"header\">№ {} от {}</p>\n<p class=\"header\">{}</p>\n<p class=\"header\">Наименование и БИН поставщика: {}, БИН {}</p>\n",
        escape(&header.document_number),
        printed_date(header.document_date),
        period_line(header),
        escape(&header.supplier_name),
        escape(&header.supplier_bin)
    );
    let numbers: Vec<String> = (1..=16)
        .map(|n| n.to_string())
        .chain(["17=15+16".to_owned()])
        .collect();
    header_row(
        &mut out,
        &APPENDIX1_HEADERS,
        &numbers.iter().map(String::as_str).collect::<Vec<_>>(),
    );
    for line in &form.lines {
        out.push_str("<tr>");
        for (index, cell) in super::registry_cells(line).iter().enumerate() {
            let class = if index >= 14 { " class=\"amount\"" } else { "" };
            let text = if index >= 14 {
                printed_cell_amount(index, line)
            } else {
                escape(cell)
            };
            let _ = write!(out, "<td{class}>{text}</td>");
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</tbody>\n</table>\n");
    let totals = form.totals();
    let _ = write!(
        out,
        "<p class=\"total\">Итого стоимость фармацевтической услуги в рамках сооплаты составила {} тенге.</p>\n<p>Справочно: оплачено пациентами (сумма сооплаты) {} тенге; общая сумма {} тенге.</p>\n",
        printed_amount(totals.fund),
        printed_amount(totals.patient),
        printed_amount(totals.total)
    );
    signatures(&mut out);
    out.push_str("<p class=\"appendix\">*Торговое наименование указывается из государственного реестра лекарственных средств и медицинских изделий</p>\n</body>\n</html>\n");
    out
}

fn printed_cell_amount(index: usize, line: &super::forms::RegistryLine) -> String {
    match index {
        14 => printed_amount(line.fund),
        15 => printed_amount(line.patient),
        _ => printed_amount(line.total),
    }
}

/// Appendix 2 as a printable HTML document.
pub fn act_html(form: &ActForm) -> String {
    let header = &form.header;
    let mut out = String::new();
    let title = "Акт оплаты фармацевтических услуг субъектами в сфере обращения лекарственных средств и медицинских изделий и (или) консорциумом";
    document_start(&mut out, title, "Приложение 2");
    let _ = write!(
        out,
        "<h1>{title}</h1>\n<p class=\"header\">№ {} от {}</p>\n<p class=\"header\">{}</p>\n",
        escape(&header.document_number),
        printed_date(header.document_date),
        period_line(header)
    );
    out.push_str("<table>\n<thead>\n<tr><th rowspan=\"2\">№ п/п</th><th rowspan=\"2\">Регион</th><th rowspan=\"2\">Наименование поставщика (субъект в сфере обращения лекарственных средств и медицинских изделий и (или) официальный представитель консорциума, заключивший договор сооплаты с НАО «Фонд социального медицинского страхования»)</th><th colspan=\"2\">Предъявлено к оплате</th></tr>\n<tr>");
    for label in &APPENDIX2_HEADERS[3..] {
        let _ = write!(out, "<th>{}</th>", escape(label));
    }
    out.push_str("</tr>\n<tr class=\"numbers\"><th>1</th><th>2</th><th>3</th><th>4</th><th>5</th></tr>\n</thead>\n<tbody>\n");
    for row in &form.rows {
        let _ = writeln!(
            out,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td class=\"amount\">{}</td><td class=\"amount\">{}</td></tr>",
            row.number,
            escape(&row.region),
            escape(&row.supplier_name),
            row.prescriptions,
            printed_amount(row.fund)
        );
    }
    let _ = write!(
        out,
        "<tr><td colspan=\"3\">Итого сумма обеспеченных рецептов в рамках сооплаты, тенге</td><td class=\"amount\">{}</td><td class=\"amount\">{}</td></tr>\n</tbody>\n</table>\n",
        form.prescriptions(),
        printed_amount(form.total())
    );
    signatures(&mut out);
    out.push_str("</body>\n</html>\n");
    out
}
