//! File names of views and the building split files.

use std::path::Path;

use super::TaskonomySplit;
use crate::{Error, Result};

/// A parsed `point_{p}_view_{v}_domain_{d}.{ext}` name.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct ViewName {
    /// The point id.
    pub point: String,
    /// The view id.
    pub view: String,
    /// The domain.
    pub domain: String,
    /// The extension.
    pub extension: String,
}

impl ViewName {
    /// Parses a file name; `None` if it does not follow the pattern.
    pub fn parse(name: &str) -> Option<Self> {
        let rest = name.strip_prefix("point_")?;
        let (point, rest) = rest.split_once("_view_")?;
        let (view, rest) = rest.split_once("_domain_")?;
        let (domain, extension) = rest.rsplit_once('.')?;
        let ok = |s: &str| !s.is_empty() && !s.contains('/');
        (ok(point) && ok(view) && ok(domain) && ok(extension)).then(|| Self {
            point: point.to_string(),
            view: view.to_string(),
            domain: domain.to_string(),
            extension: extension.to_string(),
        })
    }

    /// The file name of this view in another domain.
    pub fn with_domain(&self, domain: &str, extension: &str) -> String {
        format!(
            "point_{}_view_{}_domain_{domain}.{extension}",
            self.point, self.view
        )
    }

    /// The file name of this view without a domain part, `point_{p}_view_{v}.{extension}`
    /// (the original release's `places/` soft labels are named so).
    pub fn without_domain(&self, extension: &str) -> String {
        format!("point_{}_view_{}.{extension}", self.point, self.view)
    }
}

/// Reads a building split file: the buildings whose `split` column is 1.
///
/// # Errors
/// An unreadable file, a missing header column, or a malformed row (named by line).
pub fn read_building_split(path: &Path, split: TaskonomySplit) -> Result<Vec<String>> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })?;
    parse_building_split(&text, path, split)
}

/// Parses the text of a building split file as [`read_building_split`] does; `path` names
/// the file in errors.
pub fn parse_building_split(text: &str, path: &Path, split: TaskonomySplit) -> Result<Vec<String>> {
    let mut lines = text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty());
    let (_, header) = lines
        .next()
        .ok_or_else(|| Error::Dataset(format!("{}: empty split file", path.display())))?;
    let columns: Vec<&str> = header.split(',').map(str::trim).collect();
    let name = split.column();
    let column = columns.iter().position(|c| *c == name).ok_or_else(|| {
        Error::Dataset(format!(
            "{}: the header {header:?} has no `{name}` column (expected id,train,val,test)",
            path.display()
        ))
    })?;
    let mut buildings = Vec::new();
    for (number, line) in lines {
        let fields: Vec<&str> = line.split(',').map(str::trim).collect();
        if fields.len() != columns.len() {
            return Err(Error::Dataset(format!(
                "{} line {}: {} fields, the header has {}",
                path.display(),
                number + 1,
                fields.len(),
                columns.len()
            )));
        }
        match fields[column] {
            "1" => buildings.push(fields[0].to_string()),
            "0" => {}
            other => {
                return Err(Error::Dataset(format!(
                    "{} line {}: `{name}` flag {other:?} (expected 0 or 1)",
                    path.display(),
                    number + 1
                )));
            }
        }
    }
    Ok(buildings)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn view_names_and_split_files() {
        let n = ViewName::parse("point_12_view_3_domain_depth_zbuffer.png").unwrap();
        assert_eq!(
            (n.point.as_str(), n.view.as_str(), n.domain.as_str()),
            ("12", "3", "depth_zbuffer")
        );
        assert_eq!(
            n.with_domain("rgb", "png"),
            "point_12_view_3_domain_rgb.png"
        );
        assert_eq!(n.without_domain("npy"), "point_12_view_3.npy");
        assert!(ViewName::parse("point_12_domain_rgb.png").is_none());
        assert!(ViewName::parse("README.md").is_none());

        let path = Path::new("split.csv");
        let text = "id,train,val,test\na,1,0,0\n\nb,0,0,1\n";
        assert_eq!(
            parse_building_split(text, path, TaskonomySplit::Test).unwrap(),
            ["b"]
        );
        let err = parse_building_split("id,train,test\na,1,0\n", path, TaskonomySplit::Val)
            .unwrap_err()
            .to_string();
        assert!(err.contains("no `val` column"), "{err}");
        let err = parse_building_split(
            "id,train,val,test\na,yes,0,0\n",
            path,
            TaskonomySplit::Train,
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("line 2"), "{err}");
        let err = parse_building_split("id,train,val,test\na,1,0\n", path, TaskonomySplit::Train)
            .unwrap_err()
            .to_string();
        assert!(err.contains("3 fields, the header has 4"), "{err}");
    }
}
