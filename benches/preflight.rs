//! How long the check before a run takes (`data::check_samples`: every sample decoded and
//! checked) on an NYUv2 copy of the real sizes in the NDDR layout: 480 x 640 RGB images,
//! 8-bit labels and RGB normal maps, 795 training and 654 test images, and one test file
//! truncated, which the check must report before any step.
//!
//! ```text
//! cargo bench --bench preflight
//! cargo bench --bench preflight -- --train 100 --test 50    # a quicker look
//! ```
//!
//! Writes the copy under the system's temporary folder (about 0.9 GB for the full size),
//! prints the seconds to generate it and to check each split, and the error, then removes it.

use std::path::Path;
use std::time::Instant;

use mtl_nas::data::{MultiTaskDataset, Nyuv2, Nyuv2Config, Nyuv2Split, check_samples};

/// The check before a run, timed on NYUv2-sized files.
#[derive(clap::Parser, Debug)]
struct Options {
    /// Training images.
    #[arg(long, default_value_t = 795)]
    train: usize,
    /// Test images (the one at index `test / 2` is truncated).
    #[arg(long, default_value_t = 654)]
    test: usize,
    /// Passed by `cargo bench` to harness-less benchmarks.
    #[arg(long, hide = true)]
    bench: bool,
}

const HEIGHT: u32 = 480;
const WIDTH: u32 = 640;

fn write_png(path: &Path, color: png::ColorType, samples: &[u8]) {
    let file = std::io::BufWriter::new(std::fs::File::create(path).expect("create png"));
    let mut encoder = png::Encoder::new(file, WIDTH, HEIGHT);
    encoder.set_color(color);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header().expect("png header");
    writer.write_image_data(samples).expect("png data");
}

/// One image's files: smooth gradients with noise (so the PNGs do not compress to nothing),
/// labels in 0..40, normals with a white (invalid) band.
fn write_sample(root: &Path, split: &str, i: usize, state: &mut u64) {
    let mut noise = || {
        *state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (*state >> 59) as u8
    };
    let pixels = (HEIGHT * WIDTH) as usize;
    let image: Vec<u8> = (0..pixels)
        .flat_map(|p| {
            let (y, x) = (p / WIDTH as usize, p % WIDTH as usize);
            [(x / 3) as u8, (y / 2) as u8, ((x + y + i) % 256) as u8].map(|v| v ^ noise())
        })
        .collect();
    let labels: Vec<u8> = (0..pixels)
        .map(|p| ((p % WIDTH as usize) / 16 % 40) as u8)
        .collect();
    let normals: Vec<u8> = (0..pixels)
        .flat_map(|p| match p / WIDTH as usize {
            y if y < 20 => [255, 255, 255],
            y => [128 ^ noise(), 128 + (y % 100) as u8, 200],
        })
        .collect();
    let name = format!("{split}_{i}.png");
    write_png(
        &root.join("images").join(&name),
        png::ColorType::Rgb,
        &image,
    );
    write_png(
        &root.join("labels").join(&name),
        png::ColorType::Grayscale,
        &labels,
    );
    write_png(
        &root.join("normals").join(&name),
        png::ColorType::Rgb,
        &normals,
    );
}

fn write_copy(root: &Path, options: &Options) {
    for dir in ["list", "images", "labels", "normals"] {
        std::fs::create_dir_all(root.join(dir)).expect("create folder");
    }
    let mut state = 1;
    for (split, prefix, count) in [
        ("train", "training", options.train),
        ("test", "testing", options.test),
    ] {
        let (mut seg, mut normal) = (String::new(), String::new());
        for i in 0..count {
            write_sample(root, split, i, &mut state);
            seg.push_str(&format!(
                "/images/{split}_{i}.png /labels/{split}_{i}.png\n"
            ));
            normal.push_str(&format!(
                "/images/{split}_{i}.png /normals/{split}_{i}.png\n"
            ));
        }
        std::fs::write(root.join(format!("list/{prefix}_seg.txt")), seg).expect("list");
        std::fs::write(root.join(format!("list/{prefix}_normal_mask.txt")), normal).expect("list");
    }
    // A truncated normal map in the middle of the test split.
    let bad = root.join(format!("normals/test_{}.png", options.test / 2));
    let bytes = std::fs::read(&bad).expect("read png");
    std::fs::write(&bad, &bytes[..bytes.len() / 2]).expect("truncate png");
}

fn main() {
    let options: Options = clap::Parser::parse();
    let root = std::env::temp_dir().join(format!("mtl-nas-preflight-{}", std::process::id()));
    let start = Instant::now();
    write_copy(&root, &options);
    let generated = start.elapsed().as_secs_f64();
    println!(
        "generated {} + {} images of {HEIGHT} x {WIDTH} in {generated:.1} s",
        options.train, options.test
    );
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    for split in [Nyuv2Split::Train, Nyuv2Split::Test] {
        let data = Nyuv2::open(Nyuv2Config::nddr(&root, split)).expect("open");
        let start = Instant::now();
        let result = check_samples(&data, &format!("{split:?} split"), |_, _| {});
        let seconds = start.elapsed().as_secs_f64();
        println!(
            "{split:?}: {} images checked in {seconds:.2} s on {cores} cores ({:.1} ms per image)",
            data.len(),
            1000.0 * seconds / data.len() as f64
        );
        match result {
            Ok(()) => println!("  all good"),
            Err(error) => println!("  {error}"),
        }
    }
    std::fs::remove_dir_all(&root).expect("remove the copy");
}
