//! A reliability diagram: per confidence bin, the accuracy against the diagonal of perfect
//! calibration, and below it a histogram of how many rows fall in each bin. One layout
//! (`draw`) is drawn on two canvases: SVG text, or an RGB raster written as PNG (text in an
//! 8x8 bitmap font).

use std::io::Write;

/// `bins`: (mean confidence, accuracy, rows) per equal-width bin, as
/// `mlkit_metrics::probability_scores` returns them.
pub type Bins = [(f64, f64, usize)];

pub fn reliability_svg(bins: &Bins, title: &str, ece: f64) -> String {
    let mut svg = Svg(String::new());
    let (w, h) = draw(&mut svg, bins, title, ece);
    format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" \
         font-family=\"sans-serif\" font-size=\"12\">\n\
         <rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n{}</svg>\n",
        svg.0
    )
}

pub fn reliability_png(bins: &Bins, title: &str, ece: f64) -> std::io::Result<Vec<u8>> {
    let (w, h) = size();
    let mut raster = Raster {
        width: w as usize,
        height: h as usize,
        rgb: vec![255; w as usize * h as usize * 3],
    };
    draw(&mut raster, bins, title, ece);
    raster.png()
}

type Rgb = [u8; 3];
const BLUE: Rgb = [0x4c, 0x78, 0xa8];
const ORANGE: Rgb = [0xf5, 0x85, 0x18];
const RED: Rgb = [0xd6, 0x27, 0x28];
const DARK: Rgb = [0x33, 0x33, 0x33];
const WHITE: Rgb = [255, 255, 255];

#[derive(Clone, Copy, PartialEq)]
enum Anchor {
    Start,
    Middle,
    End,
}

#[derive(Clone, Copy)]
struct Rect {
    x: f64,
    y: f64,
    w: f64,
    h: f64,
}

/// What the layout needs from a canvas.
trait Canvas {
    /// A filled rectangle with a white outline; `class` and `tip` label it where the format
    /// can (SVG).
    fn bar(&mut self, r: Rect, fill: Rgb, class: &str, tip: Option<String>);
    fn frame(&mut self, r: Rect);
    fn dashed_line(&mut self, from: (f64, f64), to: (f64, f64), color: Rgb);
    /// Text with its baseline at y; `vertical` reads bottom to top, centred on (x, y).
    fn text(&mut self, x: f64, y: f64, s: &str, anchor: Anchor, vertical: bool);
}

const LEFT: f64 = 60.0;
const TOP: f64 = 40.0;
const PLOT: f64 = 360.0;
const GAP: f64 = 30.0;
const HIST: f64 = 100.0;

fn size() -> (f64, f64) {
    (460.0, TOP + PLOT + GAP + HIST + 40.0)
}

/// Draws the diagram; returns its width and height.
fn draw(c: &mut impl Canvas, bins: &Bins, title: &str, ece: f64) -> (f64, f64) {
    let (width, height) = size();
    let n = bins.len().max(1) as f64;
    let bw = PLOT / n;
    let most = bins.iter().map(|b| b.2).max().unwrap_or(0).max(1) as f64;
    c.text(
        10.0,
        24.0,
        &format!("{title} (ECE {ece:.4})"),
        Anchor::Start,
        false,
    );
    let y0 = TOP + PLOT;
    let hist_base = TOP + PLOT + GAP + HIST;
    for (i, &(conf, acc, rows)) in bins.iter().enumerate() {
        let x = LEFT + i as f64 * bw;
        if rows > 0 {
            let h = acc * PLOT;
            let tip = format!("confidence {conf:.3}, accuracy {acc:.3}, {rows} rows");
            let r = Rect {
                x,
                y: y0 - h,
                w: bw,
                h,
            };
            c.bar(r, BLUE, "accuracy", Some(tip));
        }
        let hh = rows as f64 / most * HIST;
        let r = Rect {
            x,
            y: hist_base - hh,
            w: bw,
            h: hh,
        };
        c.bar(r, ORANGE, "count", None);
    }
    // The frame, and the diagonal of perfect calibration over the bars.
    c.frame(Rect {
        x: LEFT,
        y: TOP,
        w: PLOT,
        h: PLOT,
    });
    c.dashed_line((LEFT, y0), (LEFT + PLOT, TOP), RED);
    for k in 0..=5 {
        let v = k as f64 / 5.0;
        let label = format!("{v:.1}");
        c.text(
            LEFT + v * PLOT,
            hist_base + 16.0,
            &label,
            Anchor::Middle,
            false,
        );
        c.text(LEFT - 6.0, y0 - v * PLOT + 4.0, &label, Anchor::End, false);
    }
    c.text(
        LEFT + PLOT / 2.0,
        height - 6.0,
        "confidence",
        Anchor::Middle,
        false,
    );
    c.text(16.0, TOP + PLOT / 2.0, "accuracy", Anchor::Middle, true);
    c.text(
        16.0,
        TOP + PLOT + GAP + HIST / 2.0,
        "rows",
        Anchor::Middle,
        true,
    );
    (width, height)
}

struct Svg(String);

fn hex(c: Rgb) -> String {
    format!("#{:02x}{:02x}{:02x}", c[0], c[1], c[2])
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

impl Canvas for Svg {
    fn bar(&mut self, Rect { x, y, w, h }: Rect, fill: Rgb, class: &str, tip: Option<String>) {
        let tip = tip.map_or(String::new(), |t| format!("<title>{}</title>", escape(&t)));
        self.0.push_str(&format!(
            "<rect class=\"{class}\" x=\"{x:.1}\" y=\"{y:.1}\" width=\"{w:.1}\" height=\"{h:.1}\" \
             fill=\"{}\" stroke=\"white\">{tip}</rect>\n",
            hex(fill)
        ));
    }

    fn frame(&mut self, Rect { x, y, w, h }: Rect) {
        self.0.push_str(&format!(
            "<rect x=\"{x}\" y=\"{y}\" width=\"{w}\" height=\"{h}\" fill=\"none\" stroke=\"{}\"/>\n",
            hex(DARK)
        ));
    }

    fn dashed_line(&mut self, (x1, y1): (f64, f64), (x2, y2): (f64, f64), color: Rgb) {
        self.0.push_str(&format!(
            "<line x1=\"{x1}\" y1=\"{y1}\" x2=\"{x2}\" y2=\"{y2}\" stroke=\"{}\" stroke-dasharray=\"4 3\"/>\n",
            hex(color)
        ));
    }

    fn text(&mut self, x: f64, y: f64, s: &str, anchor: Anchor, vertical: bool) {
        let anchor = match anchor {
            Anchor::Start => "start",
            Anchor::Middle => "middle",
            Anchor::End => "end",
        };
        let rotate = if vertical {
            format!(" transform=\"rotate(-90 {x:.1} {y:.1})\"")
        } else {
            String::new()
        };
        self.0.push_str(&format!(
            "<text x=\"{x:.1}\" y=\"{y:.1}\" text-anchor=\"{anchor}\"{rotate}>{}</text>\n",
            escape(s)
        ));
    }
}

struct Raster {
    width: usize,
    height: usize,
    rgb: Vec<u8>,
}

impl Raster {
    fn set(&mut self, x: i64, y: i64, c: Rgb) {
        if x >= 0 && y >= 0 && (x as usize) < self.width && (y as usize) < self.height {
            let i = (y as usize * self.width + x as usize) * 3;
            self.rgb[i..i + 3].copy_from_slice(&c);
        }
    }

    fn fill(&mut self, x: f64, y: f64, w: f64, h: f64, c: Rgb) {
        let (x0, y0) = (x.round() as i64, y.round() as i64);
        let (x1, y1) = ((x + w).round() as i64, (y + h).round() as i64);
        for yy in y0..y1 {
            for xx in x0..x1 {
                self.set(xx, yy, c);
            }
        }
    }

    /// PNG: 8-bit RGB, no interlacing, every scanline unfiltered, zlib-compressed.
    fn png(&self) -> std::io::Result<Vec<u8>> {
        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
        for row in self.rgb.chunks(self.width * 3) {
            z.write_all(&[0])?;
            z.write_all(row)?;
        }
        let idat = z.finish()?;
        let mut ihdr = Vec::new();
        ihdr.extend((self.width as u32).to_be_bytes());
        ihdr.extend((self.height as u32).to_be_bytes());
        ihdr.extend([8, 2, 0, 0, 0]);
        let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
        for (kind, data) in [(b"IHDR", &ihdr), (b"IDAT", &idat), (b"IEND", &Vec::new())] {
            out.extend((data.len() as u32).to_be_bytes());
            let mut crc = crc32fast::Hasher::new();
            crc.update(kind);
            crc.update(data);
            out.extend(kind);
            out.extend(data);
            out.extend(crc.finalize().to_be_bytes());
        }
        Ok(out)
    }
}

/// Glyphs are 8x8 cells; text is drawn at this many pixels per font pixel.
const GLYPH: i64 = 8;

impl Canvas for Raster {
    fn bar(&mut self, Rect { x, y, w, h }: Rect, fill: Rgb, _: &str, _: Option<String>) {
        self.fill(x, y, w, h, fill);
        // The white outline separating neighbouring bars.
        self.fill(x, y, 1.0, h, WHITE);
    }

    fn frame(&mut self, Rect { x, y, w, h }: Rect) {
        self.fill(x, y, w, 1.0, DARK);
        self.fill(x, y + h, w + 1.0, 1.0, DARK);
        self.fill(x, y, 1.0, h, DARK);
        self.fill(x + w, y, 1.0, h, DARK);
    }

    fn dashed_line(&mut self, (x1, y1): (f64, f64), (x2, y2): (f64, f64), color: Rgb) {
        let steps = (x2 - x1).abs().max((y2 - y1).abs()).ceil() as i64;
        for i in 0..=steps {
            // 4 on, 3 off, as the SVG's dash array.
            if i % 7 < 4 {
                let t = i as f64 / steps.max(1) as f64;
                let (x, y) = (x1 + t * (x2 - x1), y1 + t * (y2 - y1));
                for d in 0..2 {
                    self.set(x.round() as i64, y.round() as i64 + d, color);
                }
            }
        }
    }

    fn text(&mut self, x: f64, y: f64, s: &str, anchor: Anchor, vertical: bool) {
        let len = s.chars().count() as i64 * GLYPH;
        let shift = match anchor {
            Anchor::Start => 0,
            Anchor::Middle => len / 2,
            Anchor::End => len,
        };
        let (x, y) = (x.round() as i64, y.round() as i64);
        for (i, ch) in s.chars().enumerate() {
            let glyph = font8x8::legacy::BASIC_LEGACY
                .get(ch as usize)
                .copied()
                .unwrap_or([0; 8]);
            let along = i as i64 * GLYPH - shift;
            for (row, bits) in glyph.iter().enumerate() {
                for col in 0..8 {
                    if bits & (1 << col) != 0 {
                        let (dx, dy) = (along + col, row as i64 - GLYPH + 1);
                        if vertical {
                            // Rotated a quarter turn anticlockwise about (x, y).
                            self.set(x + dy + GLYPH / 2, y - dx, DARK);
                        } else {
                            self.set(x + dx, y + dy, DARK);
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BINS: [(f64, f64, usize); 3] = [(0.05, 0.0, 0), (0.55, 0.5, 4), (0.95, 1.0, 10)];

    #[test]
    fn one_bar_per_non_empty_bin() {
        let svg = reliability_svg(&BINS, "x < y", 0.05);
        assert_eq!(svg.matches("class=\"accuracy\"").count(), 2);
        assert_eq!(svg.matches("class=\"count\"").count(), 3);
        assert!(svg.contains("x &lt; y"));
    }

    #[test]
    fn png_is_well_formed_and_draws_the_bars() {
        let png = reliability_png(&BINS, "vote share", 0.05).unwrap();
        assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"));
        assert_eq!(&png[12..16], b"IHDR");
        assert_eq!(u32::from_be_bytes(png[16..20].try_into().unwrap()), 460);
        assert!(png.ends_with(&[0xae, 0x42, 0x60, 0x82])); // IEND's CRC
                                                           // Inflate the pixels back: the last bin's accuracy bar (full height) is blue.
        let idat_len = u32::from_be_bytes(png[33..37].try_into().unwrap()) as usize;
        let mut pixels = Vec::new();
        let mut z = flate2::read::ZlibDecoder::new(&png[41..41 + idat_len]);
        std::io::Read::read_to_end(&mut z, &mut pixels).unwrap();
        let stride = 460 * 3 + 1;
        let (x, y) = ((LEFT + PLOT - 20.0) as usize, (TOP + 50.0) as usize);
        let at = y * stride + 1 + x * 3;
        assert_eq!(pixels[at..at + 3], BLUE);
        // The first bin has no rows: no bar, white.
        let x = (LEFT + 20.0) as usize;
        let at = (TOP + PLOT - 20.0) as usize * stride + 1 + x * 3;
        assert_eq!(pixels[at..at + 3], WHITE);
    }
}
