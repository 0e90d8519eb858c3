//! Charts drawn by the server as inline SVG: stacked columns (messages per hour) and
//! horizontal bars (top senders, the queue by state). No script, no style attribute (the
//! Content-Security-Policy allows neither): colours come from classes in `panel.css`.
//!
//! In: a title and plain numbers with their labels. Out: an SVG document fragment, to be
//! placed as is in a page. Defends against markup in labels (a sender's name is the
//! client's text): every text and attribute value is escaped here, since the template
//! takes the fragment unescaped. Every chart is an image with a label (`role="img"`,
//! `aria-label`) and a tooltip per bar (`<title>`); the pages add a table of the figures.

use std::fmt::Write;

/// The drawing's width (the page scales it to its own).
const WIDTH: f64 = 720.0;
/// Room for the value axis on the left.
const LEFT: f64 = 44.0;
/// Room on the right, for the last column's label.
const RIGHT: f64 = 16.0;
/// Room for the legend on top.
const TOP: f64 = 26.0;
/// Room for the hour labels below.
const BOTTOM: f64 = 22.0;
/// The plot's height.
const PLOT: f64 = 160.0;
/// The width of horizontal bars' drawing (they sit two side by side).
const BARS_WIDTH: f64 = 480.0;
/// One horizontal bar's row.
const ROW: f64 = 22.0;
/// Room for the names left of horizontal bars.
const NAMES: f64 = 200.0;
/// The longest name shown whole next to a bar (the tooltip has it all).
const NAME_CHARS: usize = 30;

/// One kind of count in a stacked column: its name (legend, tooltips) and CSS class.
#[derive(Debug, Clone, Copy)]
pub struct Layer {
    pub name: &'static str,
    pub class: &'static str,
}

/// One column: its label and a value per layer, bottom layer first.
#[derive(Debug, Clone)]
pub struct Column {
    /// Below the column (when it is one of those labelled) and in its tooltip.
    pub label: String,
    /// The tooltip's longer label (e.g. the date and hour).
    pub tooltip: String,
    pub values: Vec<u64>,
}

/// One horizontal bar: a name and its count.
#[derive(Debug, Clone)]
pub struct Bar {
    pub name: String,
    pub value: u64,
    /// The bar's CSS class.
    pub class: &'static str,
}

/// `text` safe in SVG (or HTML) text and in quoted attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// The top of the value axis: 1, 2 or 5 times a power of ten, at least `max` and 1.
pub fn axis_top(max: u64) -> u64 {
    let mut step = 1u64;
    loop {
        for m in [1, 2, 5] {
            let top = step.saturating_mul(m);
            if top >= max || top == u64::MAX {
                return top;
            }
        }
        step = step.saturating_mul(10);
    }
}

/// Stacked columns, one per entry of `columns`, labelled every `label_every` columns
/// (counting back from the last, so the newest is always labelled).
pub fn columns(title: &str, layers: &[Layer], columns: &[Column], label_every: usize) -> String {
    let height = TOP + PLOT + BOTTOM;
    let totals: Vec<u64> = columns.iter().map(|c| c.values.iter().sum()).collect();
    let top = axis_top(totals.iter().copied().max().unwrap_or(0));
    let plot_width = WIDTH - LEFT - RIGHT;
    let slot = plot_width / columns.len().max(1) as f64;
    let bar = (slot * 0.8).max(1.0);
    let y_of = |v: u64| TOP + PLOT - PLOT * v as f64 / top as f64;

    let mut svg = open(title, WIDTH, height, &summary(title, layers, columns));
    // The value axis: 0, half and the top, with grid lines.
    let half = (top >= 2 && top.is_multiple_of(2)).then_some(top / 2);
    for v in [Some(0), half, Some(top)].into_iter().flatten() {
        let y = y_of(v);
        let _ = write!(
            svg,
            r#"<line class="grid" x1="{LEFT}" y1="{y:.1}" x2="{x2:.1}" y2="{y:.1}"/><text class="axis" x="{x:.1}" y="{ty:.1}" text-anchor="end">{v}</text>"#,
            x2 = WIDTH - RIGHT,
            x = LEFT - 4.0,
            ty = y + 4.0,
        );
    }
    legend(&mut svg, layers);
    let every = label_every.max(1);
    for (i, (column, total)) in columns.iter().zip(&totals).enumerate() {
        let x = LEFT + slot * i as f64 + (slot - bar) / 2.0;
        let parts: Vec<String> =
            layers.iter().zip(&column.values).map(|(layer, value)| format!("{value} {}", layer.name)).collect();
        let _ = write!(
            svg,
            r#"<g class="column" data-total="{total}"><title>{}: {}</title>"#,
            escape(&column.tooltip),
            escape(&parts.join(", "))
        );
        // A transparent full-height target, so that an empty hour has a tooltip too.
        let _ = write!(svg, r#"<rect class="hover" x="{x:.1}" y="{TOP}" width="{bar:.1}" height="{PLOT}"/>"#);
        let mut base = 0u64;
        for (layer, &value) in layers.iter().zip(&column.values) {
            if value > 0 {
                let (y1, y0) = (y_of(base + value), y_of(base));
                let _ = write!(
                    svg,
                    r#"<rect class="bar {}" x="{x:.1}" y="{y1:.1}" width="{bar:.1}" height="{h:.1}"/>"#,
                    layer.class,
                    h = (y0 - y1).max(0.5)
                );
            }
            base += value;
        }
        svg.push_str("</g>");
        if (columns.len() - 1 - i).is_multiple_of(every) {
            let _ = write!(
                svg,
                r#"<text class="axis" x="{cx:.1}" y="{y:.1}" text-anchor="middle">{}</text>"#,
                escape(&column.label),
                cx = x + bar / 2.0,
                y = TOP + PLOT + 15.0,
            );
        }
    }
    let _ = write!(
        svg,
        r#"<line class="baseline" x1="{LEFT}" y1="{b}" x2="{x2}" y2="{b}"/>"#,
        b = TOP + PLOT,
        x2 = WIDTH - RIGHT
    );
    svg.push_str("</svg>");
    svg
}

/// Horizontal bars, one row per entry of `bars`, longest for the largest value.
pub fn bars(title: &str, bars: &[Bar]) -> String {
    let height = ROW * bars.len().max(1) as f64 + 8.0;
    let top = bars.iter().map(|b| b.value).max().unwrap_or(0).max(1);
    let room = BARS_WIDTH - NAMES - 50.0;
    let listed: Vec<String> = bars.iter().map(|b| format!("{} {}", b.name, b.value)).collect();
    let label = format!("{title}: {}", if listed.is_empty() { "none".into() } else { listed.join(", ") });
    let mut svg = open(title, BARS_WIDTH, height, &label);
    for (i, bar) in bars.iter().enumerate() {
        let y = 4.0 + ROW * i as f64;
        let width = room * bar.value as f64 / top as f64;
        let shown: String = if bar.name.chars().count() > NAME_CHARS {
            bar.name.chars().take(NAME_CHARS - 1).chain(['…']).collect()
        } else {
            bar.name.clone()
        };
        let _ = write!(
            svg,
            r#"<g class="row" data-value="{v}"><title>{name}: {v}</title><text class="name" x="{nx}" y="{ty:.1}" text-anchor="end">{shown}</text><rect class="bar {class}" x="{NAMES}" y="{ry:.1}" width="{w:.1}" height="{h:.1}"/><text class="value" x="{vx:.1}" y="{ty:.1}">{v}</text></g>"#,
            v = bar.value,
            name = escape(&bar.name),
            shown = escape(&shown),
            class = bar.class,
            nx = NAMES - 6.0,
            ty = y + ROW / 2.0 + 4.0,
            ry = y + 3.0,
            w = width.max(if bar.value > 0 { 1.0 } else { 0.0 }),
            h = ROW - 6.0,
            vx = NAMES + width + 6.0,
        );
    }
    svg.push_str("</svg>");
    svg
}

/// The opening of a chart: an image named by `label`, with `title` as its tooltip.
fn open(title: &str, width: f64, height: f64, label: &str) -> String {
    format!(
        r#"<svg class="chart" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" role="img" aria-label="{}"><title>{}</title>"#,
        escape(label),
        escape(title)
    )
}

/// The legend, along the top.
fn legend(svg: &mut String, layers: &[Layer]) {
    let mut x = LEFT;
    for layer in layers {
        let _ = write!(
            svg,
            r#"<rect class="bar {}" x="{x:.1}" y="6" width="12" height="12"/><text class="legend" x="{tx:.1}" y="16">{}</text>"#,
            layer.class,
            escape(layer.name),
            tx = x + 16.0,
        );
        x += 28.0 + 8.0 * layer.name.chars().count() as f64;
    }
}

/// What a screen reader says for stacked columns: the title and each layer's total.
fn summary(title: &str, layers: &[Layer], columns: &[Column]) -> String {
    let totals: Vec<String> = layers
        .iter()
        .enumerate()
        .map(|(i, layer)| {
            let sum: u64 = columns.iter().filter_map(|c| c.values.get(i)).sum();
            format!("{sum} {}", layer.name)
        })
        .collect();
    format!("{title}: {}", totals.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    const LAYERS: [Layer; 2] = [Layer { name: "sent", class: "sent" }, Layer { name: "refused", class: "refused" }];

    fn column(label: &str, values: &[u64]) -> Column {
        Column { label: label.into(), tooltip: format!("at {label}"), values: values.to_vec() }
    }

    #[test]
    fn the_axis_top_is_round() {
        let tops: Vec<u64> = [0, 1, 2, 3, 7, 10, 11, 49, 51, 999, u64::MAX].iter().map(|&m| axis_top(m)).collect();
        assert_eq!(tops[..10], [1, 1, 2, 5, 10, 10, 20, 50, 100, 1000]);
        assert!(tops[10] >= 1);
    }

    #[test]
    fn columns_stack_their_layers_with_a_tooltip_and_labels() {
        let svg = columns(
            "Last 24 hours",
            &LAYERS,
            &[column("00", &[3, 1]), column("01", &[0, 0]), column("02", &[2, 0])],
            2,
        );
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
        assert!(svg.contains(r#"role="img" aria-label="Last 24 hours: 5 sent, 1 refused""#), "{svg}");
        assert_eq!(svg.matches(r#"<g class="column""#).count(), 3);
        assert_eq!(svg.matches(r#"<rect class="bar sent" x"#).count(), 2 + 1, "two columns and the legend");
        assert_eq!(svg.matches(r#"<rect class="bar refused" x"#).count(), 1 + 1);
        assert!(svg.contains("<title>at 00: 3 sent, 1 refused</title>"));
        assert!(svg.contains("<title>at 01: 0 sent, 0 refused</title>"), "an empty hour has a tooltip");
        // Labelled: the newest and every second back from it; the axis tops at 5.
        assert!(svg.contains(">02</text>") && svg.contains(">00</text>") && !svg.contains(">01</text>"));
        assert!(svg.contains(">5</text>") && !svg.contains("style="));
        // The axis tops at 5: the first column's sent part is 3 fifths of the plot.
        assert!(svg.contains(&format!(r#"height="{:.1}""#, PLOT * 3.0 / 5.0)), "{svg}");
    }

    #[test]
    fn all_zeros_and_no_columns_draw_an_empty_chart() {
        let zeros: Vec<Column> = (0..168).map(|i| column(&i.to_string(), &[0, 0])).collect();
        let svg = columns("Week", &LAYERS, &zeros, 24);
        assert!(!svg.contains("NaN") && !svg.contains("inf"), "{svg}");
        assert_eq!(svg.matches(r#"<rect class="bar"#).count(), 2, "only the legend");
        assert!(svg.contains(r#"aria-label="Week: 0 sent, 0 refused""#));
        let none = columns("Nothing", &LAYERS, &[], 1);
        assert!(none.ends_with("</svg>") && !none.contains("NaN"));
        let svg = bars("Top", &[Bar { name: "a".into(), value: 0, class: "sent" }]);
        assert!(svg.contains(r#"width="0.0""#) && !svg.contains("NaN"));
        assert!(bars("Top", &[]).contains(r#"aria-label="Top: none""#));
    }

    #[test]
    fn every_text_is_escaped() {
        let evil = "<script>alert('x')</script>\"&";
        let svg = columns(evil, &LAYERS, &[Column { label: evil.into(), tooltip: evil.into(), values: vec![1, 0] }], 1);
        let svg2 = bars(evil, &[Bar { name: format!("{evil}{}", "long".repeat(20)), value: 3, class: "sent" }]);
        for svg in [svg, svg2] {
            assert!(!svg.contains("<script"), "{svg}");
            assert!(!svg.contains("'x'"), "{svg}");
            assert!(svg.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&quot;&amp;"), "{svg}");
        }
        assert_eq!(escape("a\u{0}b\nc"), "a b c");
    }

    #[test]
    fn bars_are_as_long_as_their_values_with_long_names_cut() {
        let long = "x".repeat(60);
        let svg = bars(
            "Top accounts",
            &[
                Bar { name: "big".into(), value: 10, class: "sent" },
                Bar { name: long.clone(), value: 5, class: "sent" },
            ],
        );
        let room = BARS_WIDTH - NAMES - 50.0;
        assert!(
            svg.contains(&format!(r#"width="{room:.1}""#)) && svg.contains(&format!(r#"width="{:.1}""#, room / 2.0))
        );
        assert!(svg.contains(&format!("<title>{long}: 5</title>")), "the tooltip has the whole name");
        assert!(svg.contains(&format!(">{}…</text>", "x".repeat(NAME_CHARS - 1))));
        assert!(svg.contains(r#"aria-label="Top accounts: big 10, "#));
    }
}
