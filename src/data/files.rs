//! Reading PNG images and NumPy arrays, with errors that name the file and what was expected.

use std::fs::File;
use std::io::BufReader;
use std::path::Path;

use crate::{Error, Result};

/// A decoded PNG: `channels` interleaved samples per pixel, row-major, as stored (8-bit
/// values 0..255, 16-bit values 0..65535; palette images keep their indices).
#[derive(Clone, Debug, PartialEq)]
pub struct PngImage {
    /// Samples, `height * width * channels`, interleaved.
    pub samples: Vec<u16>,
    /// Samples per pixel (1 grey, 2 grey + alpha, 3 RGB, 4 RGBA).
    pub channels: usize,
    /// Height in pixels.
    pub height: usize,
    /// Width in pixels.
    pub width: usize,
    /// Bits per sample (8 or 16; lower depths are widened to 8).
    pub bit_depth: u8,
}

/// Reads a PNG file.
///
/// # Errors
/// A missing, unreadable, truncated or non-PNG file.
pub fn read_png(path: &Path) -> Result<PngImage> {
    let invalid = |reason: String| Error::Dataset(format!("{}: {reason}", path.display()));
    let file = File::open(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let mut decoder = png::Decoder::new(BufReader::new(file));
    // Widen 1/2/4-bit samples to bytes, keep palette indices and 16-bit samples as they are.
    decoder.set_transformations(png::Transformations::IDENTITY);
    let mut reader = decoder
        .read_info()
        .map_err(|e| invalid(format!("not a readable PNG ({e})")))?;
    let info = reader.info();
    let (width, height) = (info.width as usize, info.height as usize);
    let channels = info.color_type.samples();
    let depth = info.bit_depth;
    let size = reader
        .output_buffer_size()
        .ok_or_else(|| invalid("image too large".into()))?;
    let mut buffer = vec![0u8; size];
    let frame = reader
        .next_frame(&mut buffer)
        .map_err(|e| invalid(format!("truncated or corrupt PNG data ({e})")))?;
    let bytes = &buffer[..frame.buffer_size()];
    let line = frame.line_size;
    let mut samples = Vec::with_capacity(width * height * channels);
    for row in bytes.chunks(line).take(height) {
        match depth {
            png::BitDepth::Sixteen => samples.extend(
                row.chunks_exact(2)
                    .take(width * channels)
                    .map(|b| u16::from_be_bytes([b[0], b[1]])),
            ),
            png::BitDepth::Eight => {
                samples.extend(row.iter().take(width * channels).map(|&b| b as u16))
            }
            low => {
                let bits = low as usize;
                let per_byte = 8 / bits;
                let mask = (1u16 << bits) - 1;
                for i in 0..width * channels {
                    let byte = row[i / per_byte] as u16;
                    let shift = 8 - bits * (i % per_byte + 1);
                    samples.push((byte >> shift) & mask);
                }
            }
        }
    }
    if samples.len() != width * height * channels {
        return Err(invalid(format!(
            "decoded {} samples for a {width} x {height} x {channels} image",
            samples.len()
        )));
    }
    Ok(PngImage {
        samples,
        channels,
        height,
        width,
        bit_depth: if depth == png::BitDepth::Sixteen {
            16
        } else {
            8
        },
    })
}

/// A NumPy array read into row-major (C) order as `f64`.
#[derive(Clone, Debug, PartialEq)]
pub struct NpyArray {
    /// The shape.
    pub shape: Vec<usize>,
    /// The values in C order.
    pub data: Vec<f64>,
}

/// Reads a `.npy` file of booleans, integers or floats (any byte order), in C or Fortran
/// order; the result is in C order.
///
/// # Errors
/// A missing, unreadable, truncated or malformed file, or an unsupported element type.
pub fn read_npy(path: &Path) -> Result<NpyArray> {
    let bytes = std::fs::read(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })?;
    parse_npy(&bytes, &path.display().to_string())
}

/// Parses `.npy` bytes as [`read_npy`] does; `origin` names the source in errors. The data
/// size the header declares is checked against the bytes present before anything is
/// allocated for it.
pub fn parse_npy(bytes: &[u8], origin: &str) -> Result<NpyArray> {
    let invalid = |reason: String| Error::Dataset(format!("{origin}: {reason}"));
    check_npy_header(bytes).map_err(invalid)?;
    let mut cursor = std::io::Cursor::new(bytes);
    let header = npyz::NpyHeader::from_reader(&mut cursor)
        .map_err(|e| invalid(format!("not a valid .npy file ({e})")))?;
    let npyz::DType::Plain(kind) = header.dtype() else {
        return Err(invalid("structured arrays are not supported".into()));
    };
    let shape: Vec<usize> = header.shape().iter().map(|&d| d as usize).collect();
    let declared = shape
        .iter()
        .try_fold(kind.size_field() as usize, |n, &d| n.checked_mul(d));
    let present = bytes.len() - cursor.position() as usize;
    match declared {
        Some(needed) if needed <= present => {}
        _ => {
            return Err(invalid(format!(
                "truncated or corrupt data (shape {shape:?} of {}-byte elements, {present} bytes present)",
                kind.size_field()
            )));
        }
    }
    let npy = npyz::NpyFile::with_header(header, cursor);
    let fortran = npy.order() == npyz::Order::Fortran;
    let data = npy_values(npy, &kind)
        .map_err(|e| invalid(format!("truncated or corrupt data ({e})")))?
        .ok_or_else(|| {
            invalid(format!(
                "element type {:?} of {} bytes is not supported (floats, integers, booleans are)",
                kind.type_char(),
                kind.size_field()
            ))
        })?;
    let expected: usize = shape.iter().product();
    if data.len() != expected {
        return Err(invalid(format!(
            "{} values for shape {shape:?}",
            data.len()
        )));
    }
    let data = if fortran && shape.len() > 1 {
        fortran_to_c(&data, &shape)
    } else {
        data
    };
    Ok(NpyArray { shape, data })
}

/// Checks what must hold before npyz reads the header: the magic and version, a declared
/// header length within the bytes present (npyz allocates that many bytes first: a corrupt
/// length asked for gigabytes), and brackets nested at most 3 deep (npyz's parser backtracks
/// exponentially on deep nesting: 19 levels took over 25 minutes). Returns what is wrong.
fn check_npy_header(bytes: &[u8]) -> std::result::Result<(), String> {
    let header_end = match bytes {
        [0x93, b'N', b'U', b'M', b'P', b'Y', 1, _, a, b, ..] => {
            10 + u16::from_le_bytes([*a, *b]) as usize
        }
        [0x93, b'N', b'U', b'M', b'P', b'Y', 2 | 3, _, a, b, c, d, ..] => {
            12 + u32::from_le_bytes([*a, *b, *c, *d]) as usize
        }
        _ => {
            return Err(
                "not a valid .npy file (no `\\x93NUMPY` magic with version 1, 2 or 3)".into(),
            );
        }
    };
    if header_end > bytes.len() {
        return Err(format!(
            "truncated header ({header_end} bytes declared, {} present)",
            bytes.len()
        ));
    }
    // A header is a flat dict with a shape tuple (two levels of brackets).
    let mut depth = 0usize;
    let mut deepest = 0usize;
    for &byte in &bytes[..header_end] {
        match byte {
            b'{' | b'[' | b'(' => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            b'}' | b']' | b')' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    if deepest > 3 {
        return Err(format!(
            "corrupt header (brackets nested {deepest} deep; a .npy header is a dict with a shape tuple)"
        ));
    }
    Ok(())
}

/// The array's values as `f64`, or `None` for an element type other than floats, integers
/// and booleans.
fn npy_values<R: std::io::Read>(
    npy: npyz::NpyFile<R>,
    kind: &npyz::TypeStr,
) -> std::io::Result<Option<Vec<f64>>> {
    use npyz::TypeChar;
    fn all<T: npyz::Deserialize, R: std::io::Read>(
        npy: npyz::NpyFile<R>,
        convert: impl Fn(T) -> f64,
    ) -> std::io::Result<Option<Vec<f64>>> {
        Ok(Some(
            npy.into_vec::<T>()?.into_iter().map(convert).collect(),
        ))
    }
    match (kind.type_char(), kind.size_field()) {
        (TypeChar::Float, 4) => all(npy, |v: f32| f64::from(v)),
        (TypeChar::Float, 8) => all(npy, |v: f64| v),
        (TypeChar::Int, 1) => all(npy, |v: i8| f64::from(v)),
        (TypeChar::Int, 2) => all(npy, |v: i16| f64::from(v)),
        (TypeChar::Int, 4) => all(npy, |v: i32| f64::from(v)),
        (TypeChar::Int, 8) => all(npy, |v: i64| v as f64),
        (TypeChar::Uint, 1) => all(npy, |v: u8| f64::from(v)),
        (TypeChar::Uint, 2) => all(npy, |v: u16| f64::from(v)),
        (TypeChar::Uint, 4) => all(npy, |v: u32| f64::from(v)),
        (TypeChar::Bool, 1) => all(npy, |b: bool| if b { 1.0 } else { 0.0 }),
        _ => Ok(None),
    }
}

/// Reorders column-major (first index fastest) values into row-major order.
fn fortran_to_c(data: &[f64], shape: &[usize]) -> Vec<f64> {
    let n = data.len();
    let mut out = vec![0.0; n];
    let mut index = vec![0usize; shape.len()];
    // Strides of the Fortran layout.
    let mut strides = vec![1usize; shape.len()];
    for d in 1..shape.len() {
        strides[d] = strides[d - 1] * shape[d - 1];
    }
    for value in out.iter_mut() {
        let offset: usize = index.iter().zip(&strides).map(|(i, s)| i * s).sum();
        *value = data[offset];
        // Advance the C-order index (last dimension fastest).
        for d in (0..shape.len()).rev() {
            index[d] += 1;
            if index[d] < shape[d] {
                break;
            }
            index[d] = 0;
        }
    }
    out
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Writes a `.npy` file by hand (format version 1.0): magic, header length, the header
    /// dictionary padded to a multiple of 64 bytes, then the raw little-endian values.
    pub(crate) fn write_npy(
        path: &Path,
        descr: &str,
        fortran: bool,
        shape: &[usize],
        bytes: &[u8],
    ) {
        let shape_text = match shape.len() {
            1 => format!("({},)", shape[0]),
            _ => format!(
                "({})",
                shape
                    .iter()
                    .map(|d| d.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        };
        let mut header = format!(
            "{{'descr': '{descr}', 'fortran_order': {}, 'shape': {shape_text}, }}",
            if fortran { "True" } else { "False" }
        );
        while (10 + header.len() + 1) % 64 != 0 {
            header.push(' ');
        }
        header.push('\n');
        let mut out = b"\x93NUMPY\x01\x00".to_vec();
        out.extend((header.len() as u16).to_le_bytes());
        out.extend(header.as_bytes());
        out.extend(bytes);
        std::fs::write(path, out).unwrap();
    }

    pub(crate) fn f32_bytes(values: &[f32]) -> Vec<u8> {
        values.iter().flat_map(|v| v.to_le_bytes()).collect()
    }

    #[test]
    fn fortran_order_arrays_come_back_in_c_order() {
        // The 2 x 3 matrix [[0, 1, 2], [3, 4, 5]] stored column by column: 0 3 1 4 2 5.
        let dir = std::env::temp_dir().join(format!("mtl-nas-npy-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("f.npy");
        write_npy(
            &path,
            "<f4",
            true,
            &[2, 3],
            &f32_bytes(&[0.0, 3.0, 1.0, 4.0, 2.0, 5.0]),
        );
        let a = read_npy(&path).unwrap();
        assert_eq!(a.shape, [2, 3]);
        assert_eq!(a.data, [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]);
        let path = dir.join("c.npy");
        let ints: Vec<u8> = [-1i64, 7].iter().flat_map(|v| v.to_le_bytes()).collect();
        write_npy(&path, "<i8", false, &[2], &ints);
        assert_eq!(read_npy(&path).unwrap().data, [-1.0, 7.0]);
        // Truncated data and a wrong magic are errors naming the file.
        let path = dir.join("short.npy");
        write_npy(&path, "<f4", false, &[4], &f32_bytes(&[1.0]));
        let err = read_npy(&path).unwrap_err().to_string();
        assert!(err.contains("short.npy"), "{err}");
        std::fs::write(dir.join("bad.npy"), b"not numpy").unwrap();
        assert!(read_npy(&dir.join("bad.npy")).is_err());
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn png_round_trip_8_and_16_bit() {
        let dir = std::env::temp_dir().join(format!("mtl-nas-png-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("grey16.png");
        write_png(
            &path,
            3,
            2,
            png::ColorType::Grayscale,
            png::BitDepth::Sixteen,
            &[0, 1, 2, 300, 65535, 9],
        );
        let img = read_png(&path).unwrap();
        assert_eq!(
            (img.width, img.height, img.channels, img.bit_depth),
            (3, 2, 1, 16)
        );
        assert_eq!(img.samples, [0, 1, 2, 300, 65535, 9]);
        let path = dir.join("rgb.png");
        write_png(
            &path,
            2,
            1,
            png::ColorType::Rgb,
            png::BitDepth::Eight,
            &[1, 2, 3, 255, 254, 253],
        );
        assert_eq!(read_png(&path).unwrap().samples, [1, 2, 3, 255, 254, 253]);
        let bytes = std::fs::read(&path).unwrap();
        std::fs::write(dir.join("cut.png"), &bytes[..bytes.len() / 2]).unwrap();
        let err = read_png(&dir.join("cut.png")).unwrap_err().to_string();
        assert!(err.contains("cut.png"), "{err}");
        std::fs::remove_dir_all(dir).unwrap();
    }

    /// Writes a PNG with the `png` crate's encoder.
    pub(crate) fn write_png(
        path: &Path,
        width: u32,
        height: u32,
        color: png::ColorType,
        depth: png::BitDepth,
        samples: &[u16],
    ) {
        let file = File::create(path).unwrap();
        let mut encoder = png::Encoder::new(std::io::BufWriter::new(file), width, height);
        encoder.set_color(color);
        encoder.set_depth(depth);
        let mut writer = encoder.write_header().unwrap();
        let bytes: Vec<u8> = match depth {
            png::BitDepth::Sixteen => samples.iter().flat_map(|s| s.to_be_bytes()).collect(),
            _ => samples.iter().map(|&s| s as u8).collect(),
        };
        writer.write_image_data(&bytes).unwrap();
    }
}
