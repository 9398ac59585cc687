//! A reliability diagram as SVG: per confidence bin, the accuracy against the diagonal of
//! perfect calibration, and below it a histogram of how many rows fall in each bin.

/// `bins`: (mean confidence, accuracy, rows) per equal-width bin, as
/// `mlkit_core::metrics::probability_scores` returns them.
pub fn reliability_svg(bins: &[(f64, f64, usize)], title: &str, ece: f64) -> String {
    let (w, top, plot, gap, hist) = (460.0, 40.0, 360.0, 30.0, 100.0);
    let left = 60.0;
    let height = top + plot + gap + hist + 40.0;
    let n = bins.len().max(1) as f64;
    let bw = plot / n;
    let most = bins.iter().map(|b| b.2).max().unwrap_or(0).max(1) as f64;
    let esc = |s: &str| {
        s.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
    };
    let mut s = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{height}\" \
         font-family=\"sans-serif\" font-size=\"12\">\n\
         <rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n\
         <text x=\"{left}\" y=\"24\" font-size=\"14\">{} (ECE {ece:.4})</text>\n",
        esc(title)
    );
    let (x0, y0) = (left, top + plot);
    for (i, &(conf, acc, rows)) in bins.iter().enumerate() {
        let x = left + i as f64 * bw;
        if rows > 0 {
            let h = acc * plot;
            s.push_str(&format!(
                "<rect class=\"accuracy\" x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{h:.1}\" \
                 fill=\"#4c78a8\" stroke=\"white\"><title>confidence {conf:.3}, accuracy {acc:.3}, \
                 {rows} rows</title></rect>\n",
                x,
                y0 - h,
                bw
            ));
        }
        let hh = rows as f64 / most * hist;
        let hy = top + plot + gap + hist;
        s.push_str(&format!(
            "<rect class=\"count\" x=\"{x:.1}\" y=\"{:.1}\" width=\"{bw:.1}\" height=\"{hh:.1}\" \
             fill=\"#f58518\" stroke=\"white\"/>\n",
            hy - hh
        ));
    }
    // The frame, and the diagonal of perfect calibration over the bars.
    s.push_str(&format!(
        "<rect x=\"{left}\" y=\"{top}\" width=\"{plot}\" height=\"{plot}\" fill=\"none\" stroke=\"#333\"/>\n\
         <line x1=\"{x0}\" y1=\"{y0}\" x2=\"{}\" y2=\"{top}\" stroke=\"#d62728\" stroke-dasharray=\"4 3\"/>\n",
        left + plot
    ));
    for k in 0..=5 {
        let v = k as f64 / 5.0;
        s.push_str(&format!(
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{v:.1}</text>\n\
             <text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{v:.1}</text>\n",
            left + v * plot,
            top + plot + gap + hist + 16.0,
            left - 6.0,
            y0 - v * plot + 4.0
        ));
    }
    s.push_str(&format!(
        "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">confidence</text>\n\
         <text x=\"16\" y=\"{:.1}\" transform=\"rotate(-90 16 {:.1})\" text-anchor=\"middle\">accuracy</text>\n\
         <text x=\"16\" y=\"{:.1}\" transform=\"rotate(-90 16 {:.1})\" text-anchor=\"middle\">rows</text>\n</svg>\n",
        left + plot / 2.0,
        height - 6.0,
        top + plot / 2.0,
        top + plot / 2.0,
        top + plot + gap + hist / 2.0,
        top + plot + gap + hist / 2.0
    ));
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_bar_per_non_empty_bin() {
        let bins = [(0.05, 0.0, 0), (0.55, 0.5, 4), (0.95, 1.0, 10)];
        let svg = reliability_svg(&bins, "x < y", 0.05);
        assert_eq!(svg.matches("class=\"accuracy\"").count(), 2);
        assert_eq!(svg.matches("class=\"count\"").count(), 3);
        assert!(svg.contains("x &lt; y"));
    }
}
